# The account page (backend/panel/pages/account.py).

account-title = Your account
account-username = User name
account-role = Role
account-role-owner = Owner
account-role-manager = Manager
account-role-support = Support
account-password = Password
account-password-help = Your other sessions (other browsers, API tokens) end when you change it; this one goes on.
account-current-password = Current password
account-new-password = New password
account-new-password-help = At least { $min } characters.
account-repeat-password = Repeat the new password
account-change-password = Change the password
account-error-current = The current password is not correct.
account-error-repeat = The two new passwords differ.
account-language = Language
account-language-label = The panel's language
account-language-browser = The browser's
account-language-en = English
account-language-ru = Русский
account-save-language = Save the language

flash-account-password-changed = Your password was changed; your other sessions have ended.
flash-account-language-changed = The language was saved.

# The admin's own Telegram account.
account-telegram = Telegram
account-telegram-help = Link your Telegram account to get notifications of new support tickets and messages from the bot.
account-telegram-link = Link my Telegram
account-telegram-new-link = Create a new link
account-telegram-open-link = Open this link in Telegram and press Start (it works once, within { $minutes } minutes):
account-telegram-send-start = The bot's address is not known right now. Send the bot this command from your Telegram (it works once, within { $minutes } minutes):
account-telegram-bot-off = The Telegram bot is off (TELEGRAM_BOT_TOKEN is not set): there is no bot to link your account with.
account-telegram-linked = Linked to the Telegram account { $name }.
account-telegram-notify = Notify me in Telegram about new support tickets and messages
account-telegram-save-notify = Save
account-telegram-unlink = Unlink
account-telegram-unlink-confirm = Unlink your Telegram account? You will get no more notifications there.
account-telegram-error-not-linked = Link your Telegram account first.
flash-account-telegram-unlinked = Your Telegram account was unlinked.
flash-account-notify-on = You will be notified in Telegram about new support tickets and messages.
flash-account-notify-off = Telegram notifications are off.
