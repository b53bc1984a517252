# Обзор (backend/panel/templates/dashboard.html, partials/totals.html, partials/star_balance.html).

dashboard-utc-note = Дни считаются по UTC. Покупка учитывается в день, когда она сделана; её возврат — в тот же день.
dashboard-period = Период
dashboard-period-heading = С { $first } по { $last }
dashboard-period-days = { $days ->
    [one] { $days } день
    [few] { $days } дня
   *[many] { $days } дней
}
dashboard-sales = Продажи
dashboard-refunds = Возвраты
dashboard-revenue = Выручка, звёзды
dashboard-refunded-stars = Возвращено, звёзды
dashboard-net-revenue = Чистая выручка, звёзды
dashboard-new-students = Новые ученики
dashboard-new-buyers = Первые покупки учеников
dashboard-conversion = Конверсия за всё время
dashboard-conversion-detail = За всё время: { $buyers } из { $students } учеников, запустивших бота, что-то купили.
dashboard-per-paying-student = Звёзд на платящего ученика за всё время
dashboard-revenue-chart = Чистая выручка в звёздах по дням
dashboard-students-chart = Новые ученики по дням
dashboard-chart-summary = Те же цифры есть в таблице «Цифры по дням».
dashboard-by-day = Цифры по дням
dashboard-day = День (UTC)
dashboard-top-items = Лучшие уроки и курсы
dashboard-item = Урок или курс
dashboard-kind-lesson = Урок
dashboard-kind-course = Курс
dashboard-nothing-yet = За этот период продаж нет.
dashboard-top-promo-codes = Использованные промокоды
dashboard-promo-code = Код
dashboard-uses = Использований
dashboard-no-promo-uses = За этот период промокоды не использовались.
dashboard-star-balance = Баланс звёзд бота
dashboard-star-balance-loading = Спрашиваем Telegram…
dashboard-star-balance-unavailable = Telegram сейчас не сообщил баланс. Попробуйте позже.
dashboard-star-balance-bot-off = Бот выключен: баланса нет.
dashboard-star-balance-refresh = Обновить
