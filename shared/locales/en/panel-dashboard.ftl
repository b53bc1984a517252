# The dashboard (backend/panel/templates/dashboard.html, partials/totals.html, partials/star_balance.html).

dashboard-utc-note = Days are UTC days. A purchase counts on the day it was made; its refund counts on that day too.
dashboard-period = Period
dashboard-period-heading = From { $first } to { $last }
dashboard-period-days = { $days ->
    [one] { $days } day
   *[other] { $days } days
}
dashboard-sales = Sales
dashboard-refunds = Refunds
dashboard-revenue = Revenue, Stars
dashboard-refunded-stars = Refunded, Stars
dashboard-net-revenue = Net revenue, Stars
dashboard-new-students = New students
dashboard-new-buyers = First-time buyers
dashboard-conversion = Conversion, all time
dashboard-conversion-detail = All time: { $buyers } of { $students } students who started the bot have bought something.
dashboard-per-paying-student = Stars per paying student, all time
dashboard-revenue-chart = Net revenue in Stars per day
dashboard-students-chart = New students per day
dashboard-chart-summary = The charts' figures are also in the table "Figures by day".
dashboard-by-day = Figures by day
dashboard-day = Day (UTC)
dashboard-top-items = Top lessons and courses
dashboard-item = Lesson or course
dashboard-kind-lesson = Lesson
dashboard-kind-course = Course
dashboard-nothing-yet = No sales in this period.
dashboard-top-promo-codes = Promo codes used
dashboard-promo-code = Code
dashboard-uses = Uses
dashboard-no-promo-uses = No promo code was used in this period.
dashboard-star-balance = The bot's Star balance
dashboard-star-balance-loading = Asking Telegram…
dashboard-star-balance-unavailable = Telegram did not give the balance just now. Try again later.
dashboard-star-balance-bot-off = The bot is off: there is no balance to show.
dashboard-star-balance-refresh = Refresh
