# The broadcasts pages of the admin panel (backend/panel/pages/broadcasts.py). Same keys in ru/panel-broadcasts.ftl.

nav-broadcasts = Broadcasts

broadcasts-new = New broadcast
broadcasts-edit = Broadcast #{ $id }: edit
broadcasts-title = Broadcast #{ $id }
broadcasts-back = ← Back
broadcasts-back-to-list = ← All broadcasts
broadcasts-filters = Find broadcasts
broadcasts-filter-all = All
broadcasts-apply = Show
broadcasts-none = No broadcasts match.
broadcasts-yes = Yes
broadcasts-no = No

broadcasts-status = Status
broadcasts-status-draft = Draft
broadcasts-status-scheduled = Scheduled
broadcasts-status-sending = Sending
broadcasts-status-paused = Paused
broadcasts-status-done = Done
broadcasts-status-cancelled = Cancelled
broadcasts-status-failed = Failed

broadcasts-text = Text
broadcasts-text-help = Telegram HTML: <b>, <i>, <u>, <s>, <a href="…">, <code>, <pre>, <blockquote>, <tg-spoiler>. Up to 4,096 characters, or 1,024 with a photo or video.
broadcasts-progress = Progress
broadcasts-progress-label = { $done } of { $total } processed
broadcasts-counts = Sent · failed · blocked / total
broadcasts-counts-short = { $sent } · { $failed } · { $blocked } / { $total }
broadcasts-created = Created
broadcasts-started = Started
broadcasts-finished = Finished

broadcasts-buttons = Buttons
broadcasts-buttons-help = Up to { $max } buttons, one a row under the message. A row left empty is dropped.
broadcasts-button-text = Button text
broadcasts-button-kind = Opens
broadcasts-button-kind-url = A web address
broadcasts-button-kind-lesson = A lesson in the bot
broadcasts-button-kind-course = A course in the bot
broadcasts-button-url = Address
broadcasts-button-lesson = Lesson it opens
broadcasts-button-course = Course it opens
broadcasts-button-add = Add a button
broadcasts-button-target-missing = Choose what the button opens.
broadcasts-button-remove = Remove

broadcasts-audience = Audience
broadcasts-audience-kind = Who gets it
broadcasts-audience-all = All students
broadcasts-audience-buyers = Students who bought something
broadcasts-audience-non_buyers = Students who bought nothing
broadcasts-audience-bought_lesson = Buyers of a lesson
broadcasts-audience-bought_course = Buyers of a course
broadcasts-audience-not_bought_course = Students who did not buy a course
broadcasts-audience-lesson = Lesson
broadcasts-audience-lesson-help = For “Buyers of a lesson”.
broadcasts-audience-course = Course
broadcasts-audience-course-help = For the audiences of a course.
broadcasts-audience-language = Language of the students
broadcasts-language-any = Any

broadcasts-delivery = Delivery
broadcasts-paid = Paid broadcast
broadcasts-paid-help = Up to 1,000 messages a second instead of 25–30, for 0.1 Star a message, paid from the bot's balance.
broadcasts-scheduled-at = Send at (UTC)
broadcasts-scheduled-at-help = Times are UTC. Used by “Schedule”; empty for a draft.
broadcasts-schedule-needs-time = Enter the date and time to send it at.

broadcasts-schedule-in-past = Choose a time in the future (UTC).
broadcasts-save-draft = Save draft
broadcasts-schedule = Schedule
broadcasts-start-now = Start now
broadcasts-test-send = Send a test to my Telegram
broadcasts-actions-help = “Save draft” keeps it unscheduled; “Schedule” sends it at the time given; the test goes to your own chat only.

broadcasts-preview = Preview
broadcasts-preview-help = How the message will look in Telegram.
broadcasts-planner = Recipients and plan
broadcasts-planner-incomplete = Choose the lesson or course of the audience to count its students.
broadcasts-recipients = { $count ->
    [one] student (those who blocked the bot are not counted)
   *[other] students (those who blocked the bot are not counted)
}
broadcasts-recipients-planned = { $count ->
    [one] { $count } recipient
   *[other] { $count } recipients
}
broadcasts-planner-duration = Takes about
broadcasts-planner-cost = Costs { $cost } ⭐ (0.1 Star a message)
broadcasts-balance = The bot's balance: { $balance } ⭐
broadcasts-balance-unavailable = The bot's Star balance is unavailable now.
broadcasts-balance-bot-off = The bot is off (TELEGRAM_BOT_TOKEN): no Star balance to show.
broadcasts-balance-short = The bot's balance does not cover this broadcast.
broadcasts-duration-hours = { $hours } h { $minutes } min
broadcasts-duration-minutes = { $minutes } min { $seconds } s
broadcasts-duration-seconds = { $seconds } s
broadcasts-stars = { $stars } ⭐
broadcasts-cost = Cost
broadcasts-bot-balance = The bot's balance

broadcasts-media = Photo or video
broadcasts-media-none = No photo or video.
broadcasts-media-current-photo = A photo is attached.
broadcasts-media-current-video = A video is attached.
broadcasts-media-remove = Remove it
broadcasts-media-choose = Photo (JPEG, PNG or WebP, up to { $photo } MB) or video (up to { $video } MB); it replaces the current one
broadcasts-media-upload = Upload
broadcasts-media-progress = Upload progress
broadcasts-media-uploading = Uploading…
broadcasts-media-done = Upload complete.
broadcasts-media-too-large = The file is larger than { $limit } MB, the most Telegram takes.
broadcasts-media-wrong-type = This is neither a photo nor a video: choose a JPEG, PNG or WebP image or an MP4 video.
broadcasts-media-failed = The upload failed. Try again.
broadcasts-media-needs-js = Uploading a file needs JavaScript.
broadcasts-media-after-save = Save the draft first, then add a photo or video to it.

broadcasts-edit-link = Edit
broadcasts-launch = Send it
broadcasts-message = Message
broadcasts-total = Recipients
broadcasts-sent = Sent
broadcasts-failed = Failed
broadcasts-blocked = Blocked the bot
broadcasts-pending = Waiting
broadcasts-eta = Time left
broadcasts-scheduled-for = Scheduled for
broadcasts-error-refused = Telegram refused the message: { $error }
broadcasts-pause = Pause
broadcasts-resume = Resume
broadcasts-cancel = Cancel the broadcast
broadcasts-cancel-confirm = Cancel this broadcast? Students not reached yet will not get it.

broadcasts-recipient-log = Recipients
broadcasts-recipient-filter = Filter the recipients
broadcasts-recipient-pending = Waiting
broadcasts-recipient-sending = Sending
broadcasts-recipient-sent = Sent
broadcasts-recipient-failed = Failed
broadcasts-recipient-blocked = Blocked the bot
broadcasts-student = Student
broadcasts-telegram-id = Telegram id
broadcasts-message-id = Message id
broadcasts-error = Error
broadcasts-attempts = Attempts
broadcasts-sent-at = Sent at
broadcasts-no-recipients = No recipients here yet: they are listed once the broadcast starts.

broadcasts-confirm-title = Start paid broadcast #{ $id }?
broadcasts-confirm-text = A paid broadcast goes out up to 1,000 messages a second, and Telegram takes its cost from the bot's Star balance.
broadcasts-confirm-start = Start and pay { $cost } ⭐
broadcasts-confirm-back = Not now

broadcasts-test-bot-off = The bot is off (TELEGRAM_BOT_TOKEN): no test can be sent.
broadcasts-test-not-linked = Link your Telegram account in the panel first: the test goes to your own chat.
broadcasts-test-link-account = Go to my account

flash-broadcast-created = The broadcast is saved as a draft.
flash-broadcast-saved = The broadcast is saved.
flash-broadcast-scheduled = The broadcast is scheduled.
flash-broadcast-started = The broadcast has started.
flash-broadcast-paused = The broadcast is paused.
flash-broadcast-resumed = The broadcast goes on.
flash-broadcast-cancelled = The broadcast is cancelled.
flash-broadcast-test-sent = The test was sent to your Telegram.
flash-broadcast-test-failed = Telegram did not take the test message. Check the text and try again.
flash-broadcast-not-editable = Only a draft or a scheduled broadcast can be edited.
flash-broadcast-media-saved = The photo or video is attached.
flash-broadcast-media-removed = The photo or video is removed.
