"""Every /apigw/ endpoint, in the original's path parameter order (operate_node's is reversed)."""
from django.urls import path

from .endpoints import periodic, task_inspection, task_logs, tasks, templates

urlpatterns = [
    # templates
    path("get_template_list/<str:bk_biz_id>/", templates.TemplateListView.as_view(), name="get_template_list"),
    path("get_template_info/<str:template_id>/<str:bk_biz_id>/", templates.TemplateInfoView.as_view(),
         name="get_template_info"),
    # The spec's own get_template_info example calls /get_template_list/{template_id}/{bk_biz_id}/;
    # answer it as the example expects.
    path("get_template_list/<str:template_id>/<str:bk_biz_id>/", templates.TemplateInfoAliasView.as_view(),
         name="get_template_info_alias"),
    # tasks
    path("create_task/<str:template_id>/<str:bk_biz_id>/", tasks.CreateTaskView.as_view(), name="create_task"),
    path("create_and_start_task/<str:template_id>/<str:bk_biz_id>/", tasks.CreateAndStartTaskView.as_view(),
         name="create_and_start_task"),
    path("start_task/<str:task_id>/<str:bk_biz_id>/", tasks.StartTaskView.as_view(), name="start_task"),
    path("operate_task/<str:task_id>/<str:bk_biz_id>/", tasks.OperateTaskView.as_view(), name="operate_task"),
    path("get_task_status/<str:task_id>/<str:bk_biz_id>/", tasks.TaskStatusView.as_view(), name="get_task_status"),
    path("get_task_detail/<str:task_id>/<str:bk_biz_id>/", tasks.TaskDetailView.as_view(), name="get_task_detail"),
    path("get_task_node_detail/<str:task_id>/<str:bk_biz_id>/", tasks.TaskNodeDetailView.as_view(),
         name="get_task_node_detail"),
    path("query_task_count/<str:bk_biz_id>/", tasks.QueryTaskCountView.as_view(), name="query_task_count"),
    path("node_callback/<str:task_id>/<str:bk_biz_id>/", tasks.NodeCallbackView.as_view(), name="node_callback"),
    path("operate_node/<str:bk_biz_id>/<str:task_id>/", tasks.OperateNodeView.as_view(), name="operate_node"),
    path("get_task_list/<str:bk_biz_id>/", tasks.TaskListView.as_view(), name="get_task_list"),
    path("get_tasks_status/<str:bk_biz_id>/", tasks.TasksStatusView.as_view(), name="get_tasks_status"),
    path("claim_functionalization_task/<str:task_id>/<str:bk_biz_id>/",
         tasks.ClaimFunctionalizationTaskView.as_view(), name="claim_functionalization_task"),
    path("preview_task_tree/<str:bk_biz_id>/<str:template_id>/", tasks.PreviewTaskTreeView.as_view(),
         name="preview_task_tree"),
    # periodic tasks
    path("get_periodic_task_list/<str:bk_biz_id>/", periodic.PeriodicTaskListView.as_view(),
         name="get_periodic_task_list"),
    path("get_periodic_task_info/<str:task_id>/<str:bk_biz_id>/", periodic.PeriodicTaskInfoView.as_view(),
         name="get_periodic_task_info"),
    path("create_periodic_task/<str:template_id>/<str:bk_biz_id>/", periodic.CreatePeriodicTaskView.as_view(),
         name="create_periodic_task"),
    path("set_periodic_task_enabled/<str:task_id>/<str:bk_biz_id>/", periodic.SetPeriodicTaskEnabledView.as_view(),
         name="set_periodic_task_enabled"),
    path("modify_cron_for_periodic_task/<str:task_id>/<str:bk_biz_id>/", periodic.ModifyCronView.as_view(),
         name="modify_cron_for_periodic_task"),
    path("modify_constants_for_periodic_task/<str:task_id>/<str:bk_biz_id>/", periodic.ModifyConstantsView.as_view(),
         name="modify_constants_for_periodic_task"),
    path("get_periodic_task_history/<str:task_id>/<str:bk_biz_id>/", periodic.PeriodicTaskHistoryView.as_view(),
         name="get_periodic_task_history"),
    # task inspection and control (later-endpoints.md §8)
    path("get_task_node_data/<str:bk_biz_id>/<str:task_id>/", task_inspection.TaskNodeDataView.as_view(),
         name="get_task_node_data"),
    path("modify_constants_for_task/<str:task_id>/<str:bk_biz_id>/",
         task_inspection.ModifyConstantsForTaskView.as_view(), name="modify_constants_for_task"),
    path("get_tasks_manual_intervention_state/<str:bk_biz_id>/",
         task_inspection.TasksManualInterventionStateView.as_view(), name="get_tasks_manual_intervention_state"),
    path("get_functionalization_task_list/", task_inspection.FunctionalizationTaskListView.as_view(),
         name="get_functionalization_task_list"),
    path("get_task_count/<str:bk_biz_id>/", task_inspection.TaskCountView.as_view(), name="get_task_count"),
    path("get_task_effective_time/<str:task_id>/<str:bk_biz_id>/", task_inspection.TaskEffectiveTimeView.as_view(),
         name="get_task_effective_time"),
    path("get_task_operate_record/<str:task_id>/<str:bk_biz_id>/", task_inspection.TaskOperateRecordView.as_view(),
         name="get_task_operate_record"),
    path("get_task_node_log/<str:task_id>/<str:bk_biz_id>/", task_logs.TaskNodeLogView.as_view(),
         name="get_task_node_log"),
    path("get_task_plugin_log/<str:task_id>/<str:bk_biz_id>/", task_logs.TaskPluginLogView.as_view(),
         name="get_task_plugin_log"),
]
