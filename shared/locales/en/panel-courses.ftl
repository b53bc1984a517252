# The panel's courses pages (backend/panel/pages/courses.py), and the words the catalog pages share.

catalog-any = Any
catalog-active = Active
catalog-inactive = Inactive
catalog-apply = Apply
catalog-yes = Yes
catalog-no = No
catalog-stars = { $stars } ⭐
catalog-free = Free
catalog-save = Save

courses-title = Courses
courses-new = New course
courses-filters = Filter courses
courses-search = Search in title and description
courses-filter-active = On sale
courses-column-title = Title
courses-column-lessons = Lessons
courses-column-price = Price
courses-column-separately = Lessons separately
courses-column-active = On sale
courses-column-created = Created
courses-lesson-count = { $count ->
    [one] { $count } lesson
   *[other] { $count } lessons
}
courses-empty = No courses match.
courses-back = ← All courses

course-new-title = New course
course-edit-title = Course “{ $title }”
course-sections = Course
course-lessons-link = Lessons in order ({ $count })
course-field-title = Title
course-field-description = Description
course-field-total-price = Price in Stars
course-field-total-price-help = What the course costs, unless a discount price is set.
course-field-discount-price = Discount price in Stars
course-field-discount-price-help = Optional; lower than the price. Students see the price crossed out.
course-field-active = On sale
course-field-active-help = An inactive course is hidden from the catalog; its buyers keep their access.
course-create = Create course

course-prices-title = Price and saving
course-prices-price = Course price
course-prices-separately = Its lessons on sale, bought one by one
course-prices-saving = Students save
course-prices-no-saving = The course costs no less than its lessons bought one by one: students save nothing by buying it.
course-prices-note = The same figures as the bot shows students (free and inactive lessons count nothing).

course-delete-title = Delete the course
course-delete-text = Only a course nobody has bought can be deleted.
course-delete = Delete course
course-delete-confirm = Delete the course “{ $title }”? This cannot be undone.
course-in-use-title = This course cannot be deleted.
course-in-use-text = Students have bought it, and their purchases refer to it. Deactivate it instead: it leaves the catalog and nobody can buy it any more, while its buyers keep their access.
course-in-use-inactive = It is already inactive: it is not on sale.
course-deactivate = Deactivate course
course-deactivate-confirm = Take this course off sale?

course-lessons-title = Lessons of “{ $title }”
course-back = ← Course “{ $title }”
course-lessons-order = Lessons in order
course-lessons-help = Drag a lesson by its handle, or use the arrow buttons, to change the order. It is saved at once.
course-lessons-drag = Drag to reorder
course-lessons-empty = This course has no lessons yet. Add some below.
course-lessons-order-saved = The new order is saved.
course-lessons-changed = The course's lessons were changed meanwhile, so the order was not saved. This is the current order; try again.
course-lesson-move-up = Move “{ $title }” up
course-lesson-move-down = Move “{ $title }” down
course-lesson-remove = Remove “{ $title }” from the course
course-lesson-remove-confirm = Remove the lesson “{ $title }” from this course? The lesson itself stays.
course-lesson-add-title = Add a lesson
course-lesson-search = Find lessons
course-lesson-search-submit = Search
course-lesson-choose = Lesson
course-lesson-choose-none = Choose a lesson…
course-lesson-add = Add to the course
course-lesson-no-choices = No lessons to add: every lesson that matches is in the course already.

flash-course-created = The course is created. Now add its lessons.
flash-course-saved = The course is saved.
flash-course-deleted = The course is deleted.
flash-course-deactivated = The course is deactivated: it is no longer on sale.
flash-course-lesson-added = The lesson is added to the course.
flash-course-lesson-moved = The lesson is moved.
flash-course-lesson-removed = The lesson is removed from the course.
flash-course-lessons-ordered = The new order is saved.
