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
