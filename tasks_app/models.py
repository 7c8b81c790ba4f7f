"""Task instances (a template's tree, prepared and bound to an engine run) and their callback records."""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from access_app.models import Business
from templates_app.models import Category, Template, TemplateSource


class CreateMethod(models.TextChoices):
    APP = "app", "手动"
    API = "api", "API网关"
    APP_MAKER = "app_maker", "轻应用"
    PERIODIC = "periodic", "周期任务"
    CLOCKED = "clocked", "计划任务"
    MOBILE = "mobile", "移动端"


class FlowType(models.TextChoices):
    COMMON = "common", "默认任务流程"
    COMMON_FUNC = "common_func", "职能化任务流程"


class CurrentFlow(models.TextChoices):
    # A common_func task waits in func_claim until someone claims it; nothing may start it before.
    FUNC_CLAIM = "func_claim", "待认领"
    EXECUTE_TASK = "execute_task", "执行"


class TaskStatus(models.TextChoices):
    """The three buckets query_task_count groups by (the API's names, not engine states)."""

    CREATED = "CREATED", "未执行"
    EXECUTING = "EXECUTING", "执行中"
    FINISHED = "FINISHED", "已完成"


# Where a task's tree came from: a template of either source, or a caller's tree (fast_create_task).
TASK_TEMPLATE_SOURCES = [*TemplateSource.choices, ("onetime", "one-off tree (fast_create_task)")]

TASK_NAME_MAX_LENGTH = 100
TASK_NAME_SUFFIX_LENGTH = len("_YYYYmmddHHMMSS")


def fired_task_name(name: str, fired_at: dt.datetime, tz: dt.tzinfo) -> str:
    """The name of a task a scheduler starts (periodic, clocked): `<name>_<YYYYmmddHHMMSS in the
    business's zone>`, the name cut so the whole fits a task's name."""
    stamp = fired_at.astimezone(tz).strftime("%Y%m%d%H%M%S")
    return f"{name[: TASK_NAME_MAX_LENGTH - TASK_NAME_SUFFIX_LENGTH]}_{stamp}"
# The engine's run states that end a task (is_finished; is_revoked for REVOKED). FAILED does not:
# an operator may retry or skip.
FINAL_RUN_STATES = ("FINISHED", "REVOKED")


class TaskInstance(models.Model):
    # No index of its own: task_biz_recent and task_biz_state begin with it (see Meta).
    business = models.ForeignKey(Business, on_delete=models.PROTECT, related_name="tasks", db_index=False)
    # Deleting a template must not delete the history of what ran from it.
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    template_source = models.CharField(max_length=16, choices=TASK_TEMPLATE_SOURCES, default=TemplateSource.BUSINESS)
    template_version = models.CharField(max_length=64, blank=True, default="",
                                        help_text="digest of the template tree the task was created from")
    # Periodic runs are named "<name[:113]>_<YYYYmmddHHMMSS>", longer than the API's 100.
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    creator = models.CharField(max_length=128)
    executor = models.CharField(max_length=128, blank=True, default="")
    claimer = models.CharField(max_length=128, blank=True, default="")
    create_method = models.CharField(max_length=16, choices=CreateMethod.choices, default=CreateMethod.API)
    create_info = models.CharField(max_length=255, blank=True, default="",
                                   help_text="app code (api), app-maker id, or periodic task id")
    flow_type = models.CharField(max_length=16, choices=FlowType.choices, default=FlowType.COMMON)
    current_flow = models.CharField(max_length=16, choices=CurrentFlow.choices, default=CurrentFlow.EXECUTE_TASK)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    pipeline_tree = models.JSONField()
    run_id = models.CharField(max_length=64, blank=True, default="")  # indexed by task_run_id (see Meta)
    is_started = models.BooleanField(default=False)
    is_finished = models.BooleanField(default=False)
    is_revoked = models.BooleanField(default=False)
    create_time = models.DateTimeField(auto_now_add=True, db_index=True)
    start_time = models.DateTimeField(null=True, blank=True)
    finish_time = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    callback_url = models.CharField(max_length=1024, blank=True, default="")
    # "" (the original's form-encoded body) or "v2" (a JSON body); see callbacks.py.
    callback_version = models.CharField(max_length=8, blank=True, default="")
    # NULL (not "") when absent so the unique constraint ignores tasks created without one.
    request_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    periodic_task_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["business", "is_deleted", "-id"], name="task_biz_recent"),
            models.Index(fields=["business", "is_started", "is_finished"], name="task_biz_state"),
            # An index declared here, not by db_index: on PostgreSQL db_index on a text column adds a
            # second, varchar_pattern_ops index for LIKE, which no query runs and each write pays.
            models.Index(fields=["run_id"], name="task_run_id"),
        ]
        constraints = [
            # request_id makes create idempotent per (business, app); the index makes it race-safe.
            models.UniqueConstraint(fields=["business", "create_info", "request_id"],
                                    condition=models.Q(request_id__isnull=False),
                                    name="uniq_task_request_id"),
        ]

    def __str__(self) -> str:
        return f"task #{self.pk} {self.name}"

    @property
    def status(self) -> str:
        if self.is_finished:
            return TaskStatus.FINISHED
        return TaskStatus.EXECUTING if self.is_started else TaskStatus.CREATED

    @property
    def elapsed_time(self) -> int:
        """Seconds between start and finish (or now while running); 0 before the start."""
        if not self.start_time:
            return 0
        from django.utils import timezone

        end = self.finish_time or timezone.now()
        return max(0, int((end - self.start_time).total_seconds()))

    @property
    def url(self) -> str:
        return f"{settings.SOPS_APP_HOST}taskflow/execute/{self.business.bk_biz_id}/?instance_id={self.pk}"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SUCCESS = "success", "success"
    FAILED = "failed", "failed (gave up)"


class CallbackBody(models.TextChoices):
    FORM = "form", "form-encoded (the original's default)"
    JSON = "json", "JSON (callback_version v2)"


class TaskCallbackRecord(models.Model):
    """One notification to a task's callback_url (its end, or a node's failure), with every attempt's outcome."""

    task = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="callback_records")
    url = models.CharField(max_length=1024)
    state = models.CharField(max_length=32, help_text="the run state being reported")
    payload = models.JSONField(default=dict)
    # How `payload` is sent: form fields (the original's default) or a JSON document (callback_version v2).
    body_format = models.CharField(max_length=8, choices=CallbackBody.choices, default=CallbackBody.JSON)
    node_id = models.CharField(max_length=64, blank=True, default="", help_text="the failed node, for FAILED")
    status = models.CharField(max_length=16, choices=CallbackStatus.choices, default=CallbackStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    # When the next POST is due (or, while one is in flight, when it must have ended). A pending
    # record overdue by more than a grace period has lost its Celery message: resend_stuck re-sends it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # How many times resend_stuck re-dispatched it. Each dispatch's messages carry this number, so a
    # message thought lost that turns up late is recognised as stale and dropped, never sent twice.
    resends = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The scheduler looks for overdue pending records every tick: only pending rows are indexed.
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"),
                         name="callback_pending_due"),
        ]
        constraints = [
            # A run finishes or is revoked once: never notify those twice, even if the signal repeats.
            models.UniqueConstraint(fields=["task", "state"], condition=models.Q(state__in=["FINISHED", "REVOKED"]),
                                    name="uniq_task_final_callback"),
        ]

    def __str__(self) -> str:
        return f"callback of task #{self.task_id} ({self.state}, {self.status})"


class OperateType(models.TextChoices):
    """What was done (the original's operate_type names; claim is ours, the original records none)."""

    CREATE = "create", "创建"
    START = "start", "执行"
    PAUSE = "pause", "暂停"
    RESUME = "resume", "继续"
    REVOKE = "revoke", "撤销"
    DELETE = "delete", "删除"
    UPDATE = "update", "编辑"
    CLAIM = "claim", "认领"
    CALLBACK = "callback", "回调"
    RETRY = "retry", "重试"
    SKIP = "skip", "跳过"
    SKIP_EXG = "skip_exg", "跳过失败网关"
    SKIP_CPG = "skip_cpg", "跳过并行条件网关"
    PAUSE_SUBPROC = "pause_subproc", "暂停节点"
    RESUME_SUBPROC = "resume_subproc", "继续节点"
    FORCED_FAIL = "forced_fail", "强制失败"


class OperateSource(models.TextChoices):
    """Through which door it came: the API, the operator pages (the original's "app"), the admin,
    or the scheduler (periodic and clocked firings)."""

    API = "api", "API网关"
    APP = "app", "页面"
    ADMIN = "admin", "管理后台"
    PERIODIC = "periodic", "周期任务"
    CLOCKED = "clocked", "计划任务"


class TaskOperation(models.Model):
    """One operation on a task or one of its nodes: who, when, what, through which door, with which inputs.

    Written by the task services in the operation's own transaction, so an operation that is
    refused (rolled back) leaves no record and one that happened always has one.
    """

    # No index of its own: task_operation_node begins with it.
    task = models.ForeignKey(TaskInstance, on_delete=models.CASCADE, related_name="operations", db_index=False)
    operator = models.CharField(max_length=128)
    operate_type = models.CharField(max_length=32, choices=OperateType.choices)
    operate_source = models.CharField(max_length=16, choices=OperateSource.choices)
    node_id = models.CharField(max_length=64, blank=True, default="", help_text='"" for the task itself')
    extra_info = models.JSONField(default=dict, blank=True)
    operate_date = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["task", "node_id"], name="task_operation_node")]

    def __str__(self) -> str:
        return f"{self.operate_type} of task #{self.task_id} by {self.operator} ({self.operate_source})"
