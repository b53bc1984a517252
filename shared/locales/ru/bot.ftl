# Тексты бота на русском. Сообщения в формате Telegram HTML, если не сказано иное.

welcome = Привет, { $name }! 👋
    Здесь можно купить видео- и текстовые уроки и курсы за Telegram Stars ⭐ и открывать их в любое время.
    Куда пойдём?
help =
    <b>Как это работает</b>
    • Смотрите <b>Уроки</b> и <b>Курсы</b>: в карточке видно, что внутри и сколько стоит.
    • Оплата — Telegram Stars ⭐; урок открывается сразу после оплаты и навсегда остаётся в разделе <b>Мои уроки</b>.
    • Есть промокод? Нажмите «У меня есть промокод» в карточке.
    • Вопросы: /support. Проблемы с оплатой: /paysupport.
    • /terms, /privacy — условия продажи и обработка данных.
terms =
    <b>Условия продажи</b>
    Уроки и курсы — цифровые товары, которые продаются за Telegram Stars. Доступ открывается сразу после оплаты и не истекает.
    Если урок не открывается или не соответствует описанию, напишите в /paysupport: поможем или вернём звёзды.
privacy =
    <b>Конфиденциальность</b>
    Мы храним ваш Telegram id, имя, username и язык, чтобы показывать магазин, и список покупок, чтобы давать доступ.
    Мы никому их не передаём. Чтобы удалить данные, напишите в /support.

menu-lessons = 📚 Уроки
menu-courses = 🎓 Курсы
menu-library = 📂 Мои уроки
menu-support = 💬 Поддержка
menu-help = ❓ Помощь
button-menu = « Меню
button-previous = ‹ Назад
button-next = Далее ›
button-open = ▶️ Открыть
button-buy = Купить за { $price } ⭐
button-promo = 🏷 У меня есть промокод
button-catalog = « Все уроки
button-courses = « Все курсы

lesson-button-free = 🆓 { $title }
lesson-button-owned = ✅ { $title }
lesson-button-paid = { $title } · { $price } ⭐
course-button = { $title } · { $price } ⭐
paysupport-purchase-button = №{ NUMBER($id, useGrouping: 0) } { $title } · { $amount } ⭐

lessons-title = 📚 Уроки (страница { $page } из { $pages })
lessons-empty = Уроков пока нет.
courses-title = 🎓 Курсы (страница { $page } из { $pages })
courses-empty = Курсов пока нет.
item-not-found = Этот урок или курс недоступен.
fallback-message = Я не понял сообщение. Выберите раздел в меню или напишите в /support.
button-outdated = Эта кнопка устарела. Отправьте /start, чтобы открыть меню.
lesson-kind-video = 🎬 видео
lesson-kind-text = 📄 текст
price-free = 🆓 Бесплатно
price = Цена: { $price } ⭐
price-discounted = Цена: <s>{ $old }</s> { $price } ⭐
lesson-owned = ✅ Этот урок у вас есть.
course-owned = ✅ Этот курс у вас есть: уроки ниже.
course-lessons = { $count ->
    [one] { $count } урок:
    [few] { $count } урока:
   *[many] { $count } уроков:
}
course-saving = Экономия { $saving } ⭐ по сравнению с покупкой уроков по отдельности ({ $separately } ⭐).
lesson-locked = Это платный урок. Купите его, чтобы открыть.
video-missing = Извините, видео этого урока временно недоступно. Мы уже знаем; попробуйте позже или напишите в /support.

library-title = { $count ->
    [one] 📂 У вас { $count } урок:
    [few] 📂 У вас { $count } урока:
   *[many] 📂 У вас { $count } уроков:
}
library-empty = У вас пока нет уроков. Начните с бесплатного в разделе 📚 Уроки.

invoice-label-lesson = Урок
invoice-label-course = Курс
promo-ask = Отправьте промокод сообщением.
promo-unknown = Промокода { $code } не существует.
promo-inactive = Промокод { $code } не активен.
promo-expired = Срок действия промокода { $code } истёк.
promo-used-up = Промокод { $code } уже использован.

error-already-owned = Это у вас уже есть. Откройте в «Мои уроки».
error-not-for-sale = Этот товар больше не продаётся.
error-price-changed = Цена изменилась: теперь { $price } звёзд. Откройте карточку ещё раз.
error-wrong-currency = Оплата принимается только в Telegram Stars.
error-unknown-invoice = Этот счёт больше не действителен. Откройте карточку ещё раз.
error-generic = Извините, у нас что-то пошло не так. Попробуйте через минуту.

payment-thanks-lesson = ✅ Оплата получена, спасибо! Урок остаётся в 📂 Мои уроки.
payment-thanks-course = ✅ Оплата получена, спасибо! Курс «{ $title }» ваш: { $count ->
    [one] { $count } урок
    [few] { $count } урока
   *[many] { $count } уроков
} — ниже и в 📂 Мои уроки.
grant-gift-lesson = 🎁 Вам бесплатно открыт этот урок. Он остаётся в 📂 Мои уроки.
grant-gift-course = 🎁 Вам бесплатно открыт курс «{ $title }»: { $count ->
    [one] { $count } урок
    [few] { $count } урока
   *[many] { $count } уроков
} — ниже и в 📂 Мои уроки.
refund-received = ↩️ Вам возвращено звёзд: { $amount }. Доступ, который давала эта покупка, закрыт.
payment-duplicate-refunded = ↩️ Это у вас уже есть, поэтому повторная оплата ({ $amount } ⭐) вернётся вам. Доступ остаётся прежним.
payment-unmatched = Мы получили вашу оплату ({ $amount } ⭐), но не смогли сопоставить её с уроком или курсом. Платёж записан, и поддержка во всём разберётся: вы получите доступ или звёзды обратно. Вопросы — /support.
payment-wrong-currency = Эта оплата прошла не в Telegram Stars, поэтому ничего не открывает. Платёж записан, и поддержка во всём разберётся. Вопросы — /support.

support-text-only = Пожалуйста, напишите вопрос текстом, фото или документом.
support-open-ticket = Обращение №{ NUMBER($id, useGrouping: 0) } открыто: просто пишите сюда (текст, фото или документы) — всё попадёт в него. Чтобы начать новое обращение, закройте это.
support-added = Добавлено в обращение №{ NUMBER($id, useGrouping: 0) }. Ответим в этом чате.
support-reply-ask = Напишите сообщение для обращения №{ NUMBER($id, useGrouping: 0) }: текст, фото или документ.
support-closed = Обращение №{ NUMBER($id, useGrouping: 0) } закрыто. Спасибо! Если понадобится помощь, напишите /support.
support-ticket-gone = Этого обращения больше нет. Напишите /support, чтобы начать новое.
support-reply-button = ↩️ Ответить
support-close-button = ✅ Закрыть обращение
support-ask = Напишите вопрос одним сообщением — мы ответим здесь.
support-created = Спасибо! Обращение №{ NUMBER($id, useGrouping: 0) } принято. Ответим в этом чате.
support-subject-payment = Вопрос об оплате покупки №{ NUMBER($id, useGrouping: 0) }
support-answer = Ответ на обращение №{ NUMBER($id, useGrouping: 0) }:

    { $answer }
paysupport-choose = О какой покупке вопрос?
paysupport-none = У вас пока нет покупок. С другими вопросами — в /support.

command-start = Главное меню
command-mylessons = Мои уроки
command-support = Задать вопрос
command-paysupport = Помощь с оплатой
command-help = Как это работает
command-terms = Условия продажи
command-privacy = Конфиденциальность

# Собственные аккаунты Telegram администраторов (bot/handlers/start.py) и уведомления о поддержке
# (worker/tasks/support_notifications.py).
admin-link-done = Готово: этот аккаунт Telegram привязан к администратору <b>{ $username }</b>. Чтобы получать здесь уведомления о новых сообщениях в поддержку, включите их на странице учётной записи в панели.
admin-link-invalid = Ссылка неизвестна, уже использована или устарела. Создайте новую на странице учётной записи в панели.
admin-notify-support =
    💬 <b>{ $name }</b> написал(а) в обращении №{ NUMBER($id, useGrouping: 0) } «{ $subject }»:
    { $text }
admin-notify-attachment = (фото или файл)
admin-notify-open = Открыть в панели
