# Страницы курсов в панели (backend/panel/pages/courses.py) и общие слова страниц каталога.

catalog-any = Все
catalog-active = Активные
catalog-inactive = Неактивные
catalog-apply = Применить
catalog-yes = Да
catalog-no = Нет
catalog-stars = { $stars } ⭐
catalog-free = Бесплатно
catalog-save = Сохранить

courses-title = Курсы
courses-new = Новый курс
courses-filters = Фильтр курсов
courses-search = Поиск по названию и описанию
courses-filter-active = В продаже
courses-column-title = Название
courses-column-lessons = Уроки
courses-column-price = Цена
courses-column-separately = Уроки по отдельности
courses-column-active = В продаже
courses-column-created = Создан
courses-lesson-count = { $count ->
    [one] { $count } урок
    [few] { $count } урока
   *[other] { $count } уроков
}
courses-empty = Подходящих курсов нет.
courses-back = ← Все курсы

course-new-title = Новый курс
course-edit-title = Курс «{ $title }»
course-sections = Курс
course-lessons-link = Уроки по порядку ({ $count })
course-field-title = Название
course-field-description = Описание
course-field-total-price = Цена в звёздах
course-field-total-price-help = Сколько стоит курс, если не задана цена со скидкой.
course-field-discount-price = Цена со скидкой в звёздах
course-field-discount-price-help = Необязательно; меньше цены. Ученики видят зачёркнутую цену.
course-field-active = В продаже
course-field-active-help = Неактивный курс скрыт из каталога; купившие сохраняют доступ.
course-create = Создать курс

course-prices-title = Цена и экономия
course-prices-price = Цена курса
course-prices-separately = Его уроки в продаже, если покупать по одному
course-prices-saving = Экономия учеников
course-prices-no-saving = Курс стоит не меньше, чем его уроки по отдельности: покупая его, ученики ничего не экономят.
course-prices-note = Те же цифры, что бот показывает ученикам (бесплатные и неактивные уроки не учитываются).

course-delete-title = Удаление курса
course-delete-text = Удалить можно только курс, который никто не купил.
course-delete = Удалить курс
course-delete-confirm = Удалить курс «{ $title }»? Это нельзя отменить.
course-in-use-title = Этот курс нельзя удалить.
course-in-use-text = Ученики его купили, и их покупки ссылаются на него. Вместо удаления снимите его с продажи: он исчезнет из каталога и его нельзя будет купить, а купившие сохранят доступ.
course-in-use-inactive = Он уже неактивен и не продаётся.
course-deactivate = Снять курс с продажи
course-deactivate-confirm = Снять этот курс с продажи?

course-lessons-title = Уроки курса «{ $title }»
course-back = ← Курс «{ $title }»
course-lessons-order = Уроки по порядку
course-lessons-help = Чтобы изменить порядок, перетащите урок за ручку или нажимайте кнопки со стрелками. Порядок сохраняется сразу.
course-lessons-drag = Перетащите, чтобы изменить порядок
course-lessons-empty = В курсе пока нет уроков. Добавьте их ниже.
course-lessons-order-saved = Новый порядок сохранён.
course-lessons-changed = Пока страница была открыта, уроки курса изменились, поэтому порядок не сохранён. Вот текущий порядок; попробуйте ещё раз.
course-lesson-move-up = Переместить «{ $title }» выше
course-lesson-move-down = Переместить «{ $title }» ниже
course-lesson-remove = Убрать «{ $title }» из курса
course-lesson-remove-confirm = Убрать урок «{ $title }» из этого курса? Сам урок останется.
course-lesson-add-title = Добавить урок
course-lesson-search = Найти уроки
course-lesson-search-submit = Найти
course-lesson-choose = Урок
course-lesson-choose-none = Выберите урок…
course-lesson-add = Добавить в курс
course-lesson-no-choices = Добавить нечего: все подходящие уроки уже в курсе.

flash-course-created = Курс создан. Теперь добавьте в него уроки.
flash-course-saved = Курс сохранён.
flash-course-deleted = Курс удалён.
flash-course-deactivated = Курс снят с продажи.
flash-course-lesson-added = Урок добавлен в курс.
flash-course-lesson-moved = Урок перемещён.
flash-course-lesson-removed = Урок убран из курса.
flash-course-lessons-ordered = Новый порядок сохранён.
