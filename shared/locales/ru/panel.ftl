# Тексты панели администратора (backend/panel). Каждый ключ есть и в en/panel.ftl (это проверяет тест).

panel-name = Магазин уроков
skip-to-content = Перейти к содержимому
language = Язык
signed-in-as = Вы вошли как { $username }
logout = Выйти

nav-label = Главное меню
nav-dashboard = Обзор
nav-lessons = Уроки
nav-courses = Курсы
nav-promo-codes = Промокоды
nav-students = Ученики
nav-purchases = Покупки
nav-support = Поддержка
nav-team = Команда
nav-audit-log = Журнал действий

login-title = Вход
login-username = Имя пользователя
login-password = Пароль
login-submit = Войти
login-error-missing = Введите имя пользователя и пароль.
login-error-invalid = Неверное имя пользователя или пароль.
login-error-throttled = Слишком много неудачных попыток. Повторите через { $seconds ->
    [one] { $seconds } секунду
    [few] { $seconds } секунды
   *[other] { $seconds } секунд
}.

error-title = Ошибка { $status }
error-back = Вернуться к обзору
error-other = Что-то пошло не так
error-other-text = Запрос не удалось выполнить.
error-400 = Неверный запрос
error-400-text = Запрос не удалось понять.
error-403 = Доступ запрещён
error-403-text = Форма устарела или отправлена не из этой панели. Вернитесь назад, обновите страницу и попробуйте снова.
error-404 = Страница не найдена
error-404-text = Такой страницы нет, или запись, которую она показывала, удалена.
error-405 = Действие недоступно
error-405-text = Эту страницу нельзя использовать таким образом.
error-409 = Конфликт
error-409-text = Изменение противоречит данным, сохранённым за это время. Обновите страницу и попробуйте снова.
error-413 = Слишком большой объём
error-413-text = Отправленные данные слишком велики.
error-422 = Неверные данные
error-422-text = Часть введённых данных неверна. Вернитесь и проверьте форму.
error-429 = Слишком много попыток
error-429-text = Подождите немного и попробуйте снова.
error-500 = Ошибка сервера
error-500-text = У нас что-то сломалось. Ошибка записана; попробуйте ещё раз чуть позже.

pagination-label = Страницы
pagination-summary = { $first }–{ $last } из { $total }{ $exact ->
    [no] +
   *[yes] {""}
}
pagination-previous = Назад
pagination-next = Дальше

form-errors = Исправьте поля, отмеченные ниже.
form-error-invalid = Недопустимое значение.
form-error-missing = Это поле обязательно.
form-error-string-too-short = Введите не меньше { $limit } { $limit ->
    [one] символа
   *[other] символов
}.
form-error-string-too-long = Введите не больше { $limit } { $limit ->
    [one] символа
   *[other] символов
}.
form-error-greater-than = Введите число больше { $limit }.
form-error-greater-than-equal = Введите число не меньше { $limit }.
form-error-less-than = Введите число меньше { $limit }.
form-error-less-than-equal = Введите число не больше { $limit }.
form-error-int-parsing = Введите целое число.
form-error-int-type = Введите целое число.
form-error-bool-parsing = Выберите «да» или «нет».
form-error-datetime-parsing = Введите дату и время.
form-error-datetime-from-date-parsing = Введите дату и время.
form-error-date-parsing = Введите дату.
form-error-literal-error = Выберите один из вариантов.
form-error-enum = Выберите один из вариантов.
form-error-url-parsing = Введите веб-адрес (https://…).
