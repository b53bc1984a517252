# Страница учётной записи (backend/panel/pages/account.py).

account-title = Ваша учётная запись
account-username = Имя пользователя
account-role = Роль
account-role-owner = Владелец
account-role-manager = Менеджер
account-role-support = Поддержка
account-password = Пароль
account-password-help = При смене пароля другие ваши сеансы (другие браузеры, токены API) завершатся; этот продолжится.
account-current-password = Текущий пароль
account-new-password = Новый пароль
account-new-password-help = Не меньше { $min } символов.
account-repeat-password = Повторите новый пароль
account-change-password = Сменить пароль
account-error-current = Текущий пароль указан неверно.
account-error-repeat = Новые пароли не совпадают.
account-language = Язык
account-language-label = Язык панели
account-language-browser = Как в браузере
account-language-en = English
account-language-ru = Русский
account-save-language = Сохранить язык

flash-account-password-changed = Пароль изменён; другие ваши сеансы завершены.
flash-account-language-changed = Язык сохранён.
