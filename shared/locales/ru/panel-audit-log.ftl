# Журнал действий (backend/panel/pages/audit_log.py).

audit-title = Журнал действий
audit-filters = Фильтры
audit-admin = Администратор
audit-any-admin = Любой администратор
audit-entity = Таблица
audit-any-entity = Любая таблица
audit-entity-id = Номер записи
audit-action = Действие
audit-any-action = Любое действие
audit-action-create = Создание
audit-action-update = Изменение
audit-action-delete = Удаление
audit-date-from = С (UTC)
audit-date-to = По (UTC, включительно)
audit-apply = Показать
audit-reset = Сбросить
audit-when = Когда (UTC)
audit-who = Кто
audit-record = Запись
audit-changes = Изменения
audit-field = Поле
audit-before = Было
audit-after = Стало
audit-empty = Нет подходящих записей.
