# Texts of the bot in English (the fallback language). Messages are Telegram HTML unless noted.

welcome = Hi, { $name }! 👋
    Here you can buy video and text lessons and courses for Telegram Stars ⭐ and open them at any time.
    Choose where to go:
help =
    <b>How it works</b>
    • Browse <b>Lessons</b> and <b>Courses</b>, open a card to see what is inside and what it costs.
    • Pay with Telegram Stars ⭐; the lesson opens right after payment and stays in <b>My lessons</b> forever.
    • Have a promo code? Use the “I have a promo code” button on the card.
    • Questions: /support. Problems with a payment: /paysupport.
    • /terms, /privacy — the terms of sale and how we treat your data.
terms =
    <b>Terms of sale</b>
    Lessons and courses are digital goods sold for Telegram Stars. Access opens right after payment and does not expire.
    If a lesson does not open or is not what the card described, write to /paysupport: we will help or refund the Stars.
privacy =
    <b>Privacy</b>
    We keep your Telegram id, name, username and language to show you the store, and the list of your purchases to give you access.
    We do not share them. Write to /support to have your data deleted.

menu-lessons = 📚 Lessons
menu-courses = 🎓 Courses
menu-library = 📂 My lessons
menu-support = 💬 Support
menu-help = ❓ Help
button-menu = « Menu
button-previous = ‹ Back
button-next = Next ›
button-open = ▶️ Open
button-buy = Buy for { $price } ⭐
button-promo = 🏷 I have a promo code
button-catalog = « All lessons
button-courses = « All courses

# Buttons are plain text.
lesson-button-free = 🆓 { $title }
lesson-button-owned = ✅ { $title }
lesson-button-paid = { $title } · { $price } ⭐
course-button = { $title } · { $price } ⭐
paysupport-purchase-button = #{ NUMBER($id, useGrouping: 0) } { $title } · { $amount } ⭐

lessons-title = 📚 Lessons (page { $page } of { $pages })
lessons-empty = There are no lessons yet.
courses-title = 🎓 Courses (page { $page } of { $pages })
courses-empty = There are no courses yet.
item-not-found = This lesson or course is not available.
fallback-message = I did not understand that. Choose from the menu, or write to /support.
# Plain text (an alert).
button-outdated = This button is out of date. Send /start to open the menu.
lesson-kind-video = 🎬 video
lesson-kind-text = 📄 text
price-free = 🆓 Free
price = Price: { $price } ⭐
price-discounted = Price: <s>{ $old }</s> { $price } ⭐
lesson-owned = ✅ You have this lesson.
course-owned = ✅ You have this course: open its lessons below.
course-lessons = { $count ->
    [one] { $count } lesson:
   *[other] { $count } lessons:
}
course-saving = You save { $saving } ⭐ compared with buying the lessons separately ({ $separately } ⭐).
lesson-locked = This lesson is paid. Buy it to open it.
video-missing = Sorry, the video of this lesson is temporarily unavailable. We have been notified; please try again later or write to /support.

library-title = { $count ->
    [one] 📂 You have { $count } lesson:
   *[other] 📂 You have { $count } lessons:
}
library-empty = You have no lessons yet. Start with a free one in 📚 Lessons.

invoice-label-lesson = Lesson
invoice-label-course = Course
promo-ask = Send the promo code as a message.
promo-unknown = Promo code { $code } does not exist.
promo-inactive = Promo code { $code } is not active.
promo-expired = Promo code { $code } has expired.
promo-used-up = Promo code { $code } has been used up.

# Plain text: shown by Telegram in the payment window.
error-already-owned = You already have this. Open it from “My lessons”.
error-not-for-sale = This item is no longer on sale.
error-price-changed = The price has changed: it is now { $price } Stars. Please open the card again.
error-wrong-currency = Payments are accepted in Telegram Stars only.
error-unknown-invoice = This invoice is not valid any more. Please open the card again.
error-generic = Sorry, something went wrong on our side. Please try again in a minute.

payment-thanks-lesson = ✅ Payment received, thank you! This lesson stays in 📂 My lessons.
payment-thanks-course = ✅ Payment received, thank you! The course “{ $title }” is yours: { $count ->
    [one] { $count } lesson
   *[other] { $count } lessons
} to open below and in 📂 My lessons.
grant-gift-lesson = 🎁 You have been given this lesson for free. It stays in 📂 My lessons.
grant-gift-course = 🎁 You have been given the course “{ $title }” for free: { $count ->
    [one] { $count } lesson
   *[other] { $count } lessons
} to open below and in 📂 My lessons.
refund-received = ↩️ { $amount } Stars were refunded to you. The access this purchase gave has been removed.
payment-duplicate-refunded = ↩️ You already had this, so this second payment of { $amount } ⭐ goes back to you. Your access stays as it was.
payment-unmatched = We received your payment of { $amount } ⭐ but could not match it to a lesson or course. It is recorded, and support will sort it out: you will get access or your Stars back. Questions: /support.
payment-wrong-currency = This payment was not made in Telegram Stars, so it opens nothing. It is recorded, and support will sort it out. Questions: /support.

support-text-only = Please write your question as text, a photo or a document.
support-open-ticket = Your request #{ NUMBER($id, useGrouping: 0) } is open: just write here (text, photos or documents) and it goes into it. To start a new request, close this one.
support-added = Added to your request #{ NUMBER($id, useGrouping: 0) }. We will answer in this chat.
support-reply-ask = Write your message for request #{ NUMBER($id, useGrouping: 0) }: text, a photo or a document.
support-closed = Request #{ NUMBER($id, useGrouping: 0) } is closed. Thank you! If you need more help, write /support.
# Plain text.
support-ticket-gone = This request no longer exists. Write /support to start a new one.
# Plain text (buttons).
support-reply-button = ↩️ Reply
support-close-button = ✅ Close the request
support-ask = Write your question in one message and we will answer here.
support-created = Thank you! Your request #{ NUMBER($id, useGrouping: 0) } has been received. We will answer in this chat.
support-subject-payment = Payment question about purchase #{ NUMBER($id, useGrouping: 0) }
# Plain text.
support-answer = Answer to your request #{ NUMBER($id, useGrouping: 0) }:

    { $answer }
paysupport-choose = Which purchase is your question about?
paysupport-none = You have no purchases yet. For other questions use /support.

command-start = Main menu
command-mylessons = My lessons
command-support = Ask a question
command-paysupport = Help with a payment
command-help = How it works
command-terms = Terms of sale
command-privacy = Privacy

# Admins' own Telegram accounts (bot/handlers/start.py) and their support notifications
# (worker/tasks/support_notifications.py).
admin-link-done = Done: this Telegram account is now linked to the admin <b>{ $username }</b>. To hear about new support messages here, turn the notifications on in the panel's account page.
admin-link-invalid = This link is unknown, already used or expired. Create a new one on your account page in the panel.
admin-notify-support =
    💬 <b>{ $name }</b> wrote in ticket #{ NUMBER($id, useGrouping: 0) } “{ $subject }”:
    { $text }
admin-notify-attachment = (a photo or a file)
admin-notify-open = Open in the panel
