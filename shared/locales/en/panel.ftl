# The admin panel's texts (backend/panel). Every key must exist in ru/panel.ftl too (a test checks).

panel-name = Lesson store
skip-to-content = Skip to content
language = Language
signed-in-as = Signed in as { $username }
logout = Log out

nav-label = Main
nav-dashboard = Dashboard
nav-lessons = Lessons
nav-courses = Courses
nav-promo-codes = Promo codes
nav-students = Students
nav-purchases = Purchases
nav-support = Support
nav-team = Team
nav-audit-log = Audit log

login-title = Sign in
login-username = User name
login-password = Password
login-submit = Sign in
login-error-missing = Enter your user name and password.
login-error-invalid = Wrong user name or password.
login-error-throttled = Too many failed attempts. Try again in { $seconds ->
    [one] { $seconds } second
   *[other] { $seconds } seconds
}.

error-title = Error { $status }
error-back = Back to the dashboard
error-other = Something went wrong
error-other-text = The request could not be completed.
error-400 = Bad request
error-400-text = The request could not be understood.
error-403 = Forbidden
error-403-text = The form had expired or did not come from this panel. Go back, reload the page and try again.
error-404 = Page not found
error-404-text = There is no such page, or the record it showed has been deleted.
error-405 = Not allowed
error-405-text = This page cannot be used that way.
error-409 = Conflict
error-409-text = The change conflicts with data stored meanwhile. Reload the page and try again.
error-413 = Too large
error-413-text = What you sent is too large.
error-422 = Invalid input
error-422-text = Some of what you entered is not valid. Go back and check the form.
error-429 = Too many attempts
error-429-text = Wait a little and try again.
error-500 = Server error
error-500-text = Something went wrong on our side. It has been logged; try again in a moment.

pagination-label = Pages
pagination-summary = { $first }–{ $last } of { $total }{ $exact ->
    [no] +
   *[yes] {""}
}
pagination-previous = Previous
pagination-next = Next

form-errors = Please correct the fields marked below.
form-error-invalid = This value is not valid.
form-error-missing = This field is required.
form-error-string-too-short = Enter at least { $limit } { $limit ->
    [one] character
   *[other] characters
}.
form-error-string-too-long = Enter at most { $limit } { $limit ->
    [one] character
   *[other] characters
}.
form-error-greater-than = Enter a number greater than { $limit }.
form-error-greater-than-equal = Enter a number of at least { $limit }.
form-error-less-than = Enter a number less than { $limit }.
form-error-less-than-equal = Enter a number of at most { $limit }.
form-error-int-parsing = Enter a whole number.
form-error-int-type = Enter a whole number.
form-error-bool-parsing = Choose yes or no.
form-error-datetime-parsing = Enter a date and time.
form-error-datetime-from-date-parsing = Enter a date and time.
form-error-date-parsing = Enter a date.
form-error-literal-error = Choose one of the options.
form-error-enum = Choose one of the options.
form-error-url-parsing = Enter a web address (https://…).
