# Страницы уроков в панели администратора (backend/panel/pages/lessons.py). Ключи те же, что в en/panel-lessons.ftl.

lessons-new = Новый урок
lessons-edit = Урок: { $title }
lessons-back-to-list = ← Все уроки
lessons-back-to-lesson = Вернуться к уроку
lessons-filters = Поиск уроков
lessons-search = Поиск по названию и описанию
lessons-filter-all = Все
lessons-filter-active = В продаже
lessons-filter-active-yes = Активные
lessons-filter-active-no = Неактивные
lessons-filter-free = Цена
lessons-filter-free-yes = Бесплатные
lessons-filter-free-no = Платные
lessons-filter-kind = Тип
lessons-kind-text = Текст
lessons-kind-video = Видео
lessons-apply = Показать
lessons-title = Название
lessons-price = Цена
lessons-kind = Тип
lessons-active = Активен
lessons-created = Создан
lessons-free = Бесплатно
lessons-stars = { $price } ⭐
lessons-yes = Да
lessons-no = Нет
lessons-none = Подходящих уроков нет.

lessons-description = Описание
lessons-is-free = Бесплатный урок
lessons-price-stars = Цена в звёздах
lessons-price-help = Платный урок стоит не меньше 1 звезды.
lessons-text = Текст урока
lessons-text-help = HTML Telegram: <b>, <i>, <u>, <s>, <a href="…">, <code>, <pre>, <blockquote>, <tg-spoiler>.
lessons-is-active = Активен (продаётся в боте)
lessons-is-active-help = Купившие сохраняют доступ к неактивному уроку; новые ученики купить его не смогут.
lessons-save = Сохранить
lessons-preview = Предпросмотр
lessons-preview-help = Так бот покажет урок в Telegram.

lessons-link = Ссылка на урок в боте
lessons-copy = Скопировать
lessons-copied = Скопировано.
lessons-start-parameter = Параметр запуска (ссылка на бота — https://t.me/<бот>?start= и он)
lessons-link-label = Ссылка
lessons-link-needs-bot = Ссылка появится здесь, когда будет настроен бот (TELEGRAM_BOT_TOKEN).
lessons-link-bot-unreachable = Ссылка появится здесь, когда Telegram будет доступен и сообщит имя бота.

lessons-video = Видео
lessons-video-current = Текущее видео:
lessons-video-none = Видео пока нет.
lessons-video-choose = Видеофайл (MP4, MOV, WebM или MKV, не больше { $limit } МБ); он заменит текущий
lessons-video-upload = Загрузить видео
lessons-video-progress = Ход загрузки
lessons-video-uploading = Загрузка…
lessons-video-done = Загрузка завершена.
lessons-video-too-large = Файл больше { $limit } МБ — это предел того, что может отправить бот.
lessons-video-not-video = Это не видеофайл: выберите видео MP4, MOV, WebM или MKV.
lessons-video-failed = Загрузить не удалось. Попробуйте ещё раз.
lessons-video-needs-js = Для загрузки видео нужен JavaScript.

lessons-delete = Удалить урок
lessons-delete-help = Удалить можно только урок, который никто не купил; купленный урок лучше деактивировать.
lessons-delete-confirm = Удалить урок «{ $title }»? Это действие нельзя отменить.
lessons-delete-refused-title = Этот урок нельзя удалить
lessons-delete-refused-text = У урока «{ $title }» { $count ->
    [one] { $count } покупка
    [few] { $count } покупки
   *[many] { $count } покупок
} (отдельно или в составе курса). Купившие сохраняют к нему доступ, поэтому он остаётся в магазине.
lessons-delete-refused-hint = Вместо удаления деактивируйте его: урок исчезнет из каталога, а у купивших останется.
lessons-deactivate = Деактивировать
lessons-already-inactive = Урок уже неактивен.

flash-lesson-created = Урок создан. Теперь можно загрузить к нему видео.
flash-lesson-saved = Урок сохранён.
flash-lesson-deleted = Урок удалён.
flash-lesson-deactivated = Урок деактивирован и больше не продаётся.
flash-lesson-video-saved = Видео загружено.
