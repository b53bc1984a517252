# Страницы рассылок в панели администратора (backend/panel/pages/broadcasts.py). Ключи те же, что в en/panel-broadcasts.ftl.

nav-broadcasts = Рассылки

broadcasts-new = Новая рассылка
broadcasts-edit = Рассылка №{ $id }: правка
broadcasts-title = Рассылка №{ $id }
broadcasts-back = ← Назад
broadcasts-back-to-list = ← Все рассылки
broadcasts-filters = Поиск рассылок
broadcasts-filter-all = Все
broadcasts-apply = Показать
broadcasts-none = Подходящих рассылок нет.
broadcasts-yes = Да
broadcasts-no = Нет

broadcasts-status = Статус
broadcasts-status-draft = Черновик
broadcasts-status-scheduled = Запланирована
broadcasts-status-sending = Отправляется
broadcasts-status-paused = На паузе
broadcasts-status-done = Завершена
broadcasts-status-cancelled = Отменена
broadcasts-status-failed = Сбой

broadcasts-text = Текст
broadcasts-text-help = HTML Telegram: <b>, <i>, <u>, <s>, <a href="…">, <code>, <pre>, <blockquote>, <tg-spoiler>. До 4096 символов, с фото или видео — до 1024.
broadcasts-progress = Ход рассылки
broadcasts-progress-label = Обработано { $done } из { $total }
broadcasts-counts = Отправлено · ошибки · заблокировали / всего
broadcasts-counts-short = { $sent } · { $failed } · { $blocked } / { $total }
broadcasts-created = Создана
broadcasts-started = Начата
broadcasts-finished = Закончена

broadcasts-buttons = Кнопки
broadcasts-buttons-help = До { $max } кнопок, по одной в ряд под сообщением. Пустая строка не сохраняется.
broadcasts-button-text = Текст кнопки
broadcasts-button-kind = Открывает
broadcasts-button-kind-url = Веб-адрес
broadcasts-button-kind-lesson = Урок в боте
broadcasts-button-kind-course = Курс в боте
broadcasts-button-url = Адрес
broadcasts-button-lesson = Какой урок
broadcasts-button-course = Какой курс
broadcasts-button-add = Добавить кнопку
broadcasts-button-target-missing = Выберите, что открывает кнопка.
broadcasts-button-remove = Убрать

broadcasts-audience = Аудитория
broadcasts-audience-kind = Кому
broadcasts-audience-all = Всем ученикам
broadcasts-audience-buyers = Тем, кто что-то купил
broadcasts-audience-non_buyers = Тем, кто ничего не купил
broadcasts-audience-bought_lesson = Купившим урок
broadcasts-audience-bought_course = Купившим курс
broadcasts-audience-not_bought_course = Не купившим курс
broadcasts-audience-lesson = Урок
broadcasts-audience-lesson-help = Для «Купившим урок».
broadcasts-audience-course = Курс
broadcasts-audience-course-help = Для аудиторий курса.
broadcasts-audience-language = Язык учеников
broadcasts-language-any = Любой

broadcasts-delivery = Отправка
broadcasts-paid = Платная рассылка
broadcasts-paid-help = До 1000 сообщений в секунду вместо 25–30, по 0,1 звезды за сообщение с баланса бота.
broadcasts-scheduled-at = Отправить (UTC)
broadcasts-scheduled-at-help = Время в UTC. Нужно для «Запланировать»; у черновика пусто.
broadcasts-schedule-needs-time = Укажите дату и время отправки.

broadcasts-schedule-in-past = Укажите время в будущем (UTC).
broadcasts-save-draft = Сохранить черновик
broadcasts-schedule = Запланировать
broadcasts-start-now = Начать сейчас
broadcasts-test-send = Отправить тест мне в Telegram
broadcasts-actions-help = «Сохранить черновик» снимает расписание; «Запланировать» отправит в указанное время; тест придёт только в ваш чат.

broadcasts-preview = Предпросмотр
broadcasts-preview-help = Так сообщение будет выглядеть в Telegram.
broadcasts-planner = Получатели и план
broadcasts-planner-incomplete = Выберите урок или курс аудитории, чтобы посчитать учеников.
broadcasts-recipients = { $count ->
    [one] ученик (заблокировавшие бота не считаются)
    [few] ученика (заблокировавшие бота не считаются)
   *[other] учеников (заблокировавшие бота не считаются)
}
broadcasts-recipients-planned = { $count ->
    [one] { $count } получатель
    [few] { $count } получателя
   *[other] { $count } получателей
}
broadcasts-planner-duration = Займёт около
broadcasts-planner-cost = Стоит { $cost } ⭐ (0,1 звезды за сообщение)
broadcasts-balance = Баланс бота: { $balance } ⭐
broadcasts-balance-unavailable = Баланс звёзд бота сейчас недоступен.
broadcasts-balance-bot-off = Бот выключен (TELEGRAM_BOT_TOKEN): баланс звёзд не показать.
broadcasts-balance-short = Баланса бота на эту рассылку не хватает.
broadcasts-duration-hours = { $hours } ч { $minutes } мин
broadcasts-duration-minutes = { $minutes } мин { $seconds } с
broadcasts-duration-seconds = { $seconds } с
broadcasts-stars = { $stars } ⭐
broadcasts-cost = Стоимость
broadcasts-bot-balance = Баланс бота

broadcasts-media = Фото или видео
broadcasts-media-none = Без фото и видео.
broadcasts-media-current-photo = Прикреплено фото.
broadcasts-media-current-video = Прикреплено видео.
broadcasts-media-remove = Убрать
broadcasts-media-choose = Фото (JPEG, PNG или WebP, до { $photo } МБ) или видео (до { $video } МБ); заменит текущее
broadcasts-media-upload = Загрузить
broadcasts-media-progress = Ход загрузки
broadcasts-media-uploading = Загрузка…
broadcasts-media-done = Загрузка завершена.
broadcasts-media-too-large = Файл больше { $limit } МБ — столько Telegram не примет.
broadcasts-media-wrong-type = Это не фото и не видео: выберите изображение JPEG, PNG или WebP либо видео MP4.
broadcasts-media-failed = Загрузка не удалась. Попробуйте ещё раз.
broadcasts-media-needs-js = Для загрузки файла нужен JavaScript.
broadcasts-media-after-save = Сначала сохраните черновик, потом добавьте к нему фото или видео.

broadcasts-edit-link = Изменить
broadcasts-launch = Отправка
broadcasts-message = Сообщение
broadcasts-total = Получателей
broadcasts-sent = Отправлено
broadcasts-failed = Ошибки
broadcasts-blocked = Заблокировали бота
broadcasts-pending = Ожидают
broadcasts-eta = Осталось
broadcasts-scheduled-for = Запланирована на
broadcasts-error-refused = Telegram не принял сообщение: { $error }
broadcasts-pause = Пауза
broadcasts-resume = Продолжить
broadcasts-cancel = Отменить рассылку
broadcasts-cancel-confirm = Отменить рассылку? Те, кому она ещё не пришла, её не получат.

broadcasts-recipient-log = Получатели
broadcasts-recipient-filter = Отбор получателей
broadcasts-recipient-pending = Ожидает
broadcasts-recipient-sending = Отправляется
broadcasts-recipient-sent = Отправлено
broadcasts-recipient-failed = Ошибка
broadcasts-recipient-blocked = Заблокировал бота
broadcasts-student = Ученик
broadcasts-telegram-id = Telegram id
broadcasts-message-id = Id сообщения
broadcasts-error = Ошибка
broadcasts-attempts = Попытки
broadcasts-sent-at = Отправлено в
broadcasts-no-recipients = Получателей здесь пока нет: список появится, когда рассылка начнётся.

broadcasts-confirm-title = Начать платную рассылку №{ $id }?
broadcasts-confirm-text = Платная рассылка идёт со скоростью до 1000 сообщений в секунду, и Telegram списывает её стоимость с баланса звёзд бота.
broadcasts-confirm-start = Начать и заплатить { $cost } ⭐
broadcasts-confirm-back = Не сейчас

broadcasts-test-bot-off = Бот выключен (TELEGRAM_BOT_TOKEN): тест не отправить.
broadcasts-test-not-linked = Сначала привяжите свой аккаунт Telegram в панели: тест приходит в ваш собственный чат.
broadcasts-test-link-account = Перейти в мой аккаунт

flash-broadcast-created = Рассылка сохранена как черновик.
flash-broadcast-saved = Рассылка сохранена.
flash-broadcast-scheduled = Рассылка запланирована.
flash-broadcast-started = Рассылка началась.
flash-broadcast-paused = Рассылка на паузе.
flash-broadcast-resumed = Рассылка продолжается.
flash-broadcast-cancelled = Рассылка отменена.
flash-broadcast-test-sent = Тест отправлен вам в Telegram.
flash-broadcast-test-failed = Telegram не принял тестовое сообщение. Проверьте текст и попробуйте ещё раз.
flash-broadcast-not-editable = Изменить можно только черновик или запланированную рассылку.
flash-broadcast-media-saved = Фото или видео прикреплено.
flash-broadcast-media-removed = Фото или видео убрано.
