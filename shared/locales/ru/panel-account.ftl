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

# Собственный аккаунт Telegram администратора.
account-telegram = Telegram
account-telegram-help = Привяжите свой аккаунт Telegram, чтобы бот сообщал вам о новых обращениях и сообщениях в поддержку.
account-telegram-link = Привязать мой Telegram
account-telegram-new-link = Создать новую ссылку
account-telegram-open-link = Откройте эту ссылку в Telegram и нажмите «Запустить» (она сработает один раз в течение { $minutes } мин.):
account-telegram-send-start = Адрес бота сейчас неизвестен. Отправьте боту из своего Telegram эту команду (она сработает один раз в течение { $minutes } мин.):
account-telegram-bot-off = Бот Telegram выключен (не задан TELEGRAM_BOT_TOKEN): привязать аккаунт не к чему.
account-telegram-linked = Привязан аккаунт Telegram { $name }.
account-telegram-notify = Сообщать мне в Telegram о новых обращениях и сообщениях в поддержку
account-telegram-save-notify = Сохранить
account-telegram-unlink = Отвязать
account-telegram-unlink-confirm = Отвязать аккаунт Telegram? Уведомления туда больше не придут.
account-telegram-error-not-linked = Сначала привяжите аккаунт Telegram.
flash-account-telegram-unlinked = Аккаунт Telegram отвязан.
flash-account-notify-on = Вы будете получать в Telegram уведомления о новых обращениях и сообщениях.
flash-account-notify-off = Уведомления в Telegram выключены.
