# The lessons pages of the admin panel (backend/panel/pages/lessons.py). Same keys in ru/panel-lessons.ftl.

lessons-new = New lesson
lessons-edit = Lesson: { $title }
lessons-back-to-list = ← All lessons
lessons-back-to-lesson = Back to the lesson
lessons-filters = Find lessons
lessons-search = Search in titles and descriptions
lessons-filter-all = All
lessons-filter-active = On sale
lessons-filter-active-yes = Active
lessons-filter-active-no = Inactive
lessons-filter-free = Price
lessons-filter-free-yes = Free
lessons-filter-free-no = Paid
lessons-filter-kind = Kind
lessons-kind-text = Text
lessons-kind-video = Video
lessons-apply = Show
lessons-title = Title
lessons-price = Price
lessons-kind = Kind
lessons-active = Active
lessons-created = Created
lessons-free = Free
lessons-stars = { $price } ⭐
lessons-yes = Yes
lessons-no = No
lessons-none = No lessons match.

lessons-description = Description
lessons-is-free = Free lesson
lessons-price-stars = Price in Stars
lessons-price-help = At least 1 Star for a paid lesson.
lessons-text = Text content
lessons-text-help = Telegram HTML: <b>, <i>, <u>, <s>, <a href="…">, <code>, <pre>, <blockquote>, <tg-spoiler>.
lessons-is-active = Active (on sale in the bot)
lessons-is-active-help = Buyers keep access to an inactive lesson; new students cannot buy it.
lessons-save = Save
lessons-preview = Preview
lessons-preview-help = How the bot will show the lesson in Telegram.

lessons-link = Link to the lesson in the bot
lessons-copy = Copy
lessons-copied = Copied.
lessons-start-parameter = Start parameter (the bot's link is https://t.me/<bot>?start= followed by it)
lessons-link-label = Deep link
lessons-link-needs-bot = The link appears here when the bot is configured (TELEGRAM_BOT_TOKEN).
lessons-link-bot-unreachable = The link appears here when Telegram can be reached to learn the bot's name.

lessons-video = Video
lessons-video-current = Current video:
lessons-video-none = No video yet.
lessons-video-choose = Video file (MP4, MOV, WebM or MKV, up to { $limit } MB); it replaces the current one
lessons-video-upload = Upload video
lessons-video-progress = Upload progress
lessons-video-uploading = Uploading…
lessons-video-done = Upload complete.
lessons-video-too-large = The file is larger than { $limit } MB, the most the bot can send.
lessons-video-not-video = This is not a video file: choose an MP4, MOV, WebM or MKV video.
lessons-video-failed = The upload failed. Try again.
lessons-video-needs-js = Uploading a video needs JavaScript.

lessons-delete = Delete lesson
lessons-delete-help = Only a lesson nobody has bought can be deleted; deactivate a bought one instead.
lessons-delete-confirm = Delete the lesson “{ $title }”? This cannot be undone.
lessons-delete-refused-title = This lesson cannot be deleted
lessons-delete-refused-text = “{ $title }” has { $count ->
    [one] { $count } purchase
   *[other] { $count } purchases
} (directly or as part of a course). Its buyers keep access to it, so it stays in the store.
lessons-delete-refused-hint = Deactivate it instead: it leaves the catalog, and its buyers still have it.
lessons-deactivate = Deactivate instead
lessons-already-inactive = It is already inactive.

flash-lesson-created = Lesson created. You can now upload its video.
flash-lesson-saved = Lesson saved.
flash-lesson-deleted = Lesson deleted.
flash-lesson-deactivated = Lesson deactivated: it is no longer on sale.
flash-lesson-video-saved = Video uploaded.
