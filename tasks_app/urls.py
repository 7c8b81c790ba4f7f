from django.urls import path

from . import views

# Path parameter order is the original's, including operate_node's reversed one.
urlpatterns = [
    path("create_task/<str:template_id>/<str:bk_biz_id>/", views.CreateTaskView.as_view(), name="create_task"),
    path("create_and_start_task/<str:template_id>/<str:bk_biz_id>/", views.CreateAndStartTaskView.as_view(),
         name="create_and_start_task"),
    path("start_task/<str:task_id>/<str:bk_biz_id>/", views.StartTaskView.as_view(), name="start_task"),
    path("operate_task/<str:task_id>/<str:bk_biz_id>/", views.OperateTaskView.as_view(), name="operate_task"),
    path("get_task_status/<str:task_id>/<str:bk_biz_id>/", views.TaskStatusView.as_view(), name="get_task_status"),
    path("get_task_detail/<str:task_id>/<str:bk_biz_id>/", views.TaskDetailView.as_view(), name="get_task_detail"),
    path("get_task_node_detail/<str:task_id>/<str:bk_biz_id>/", views.TaskNodeDetailView.as_view(),
         name="get_task_node_detail"),
    path("query_task_count/<str:bk_biz_id>/", views.QueryTaskCountView.as_view(), name="query_task_count"),
    path("node_callback/<str:task_id>/<str:bk_biz_id>/", views.NodeCallbackView.as_view(), name="node_callback"),
    path("operate_node/<str:bk_biz_id>/<str:task_id>/", views.OperateNodeView.as_view(), name="operate_node"),
    path("get_task_list/<str:bk_biz_id>/", views.TaskListView.as_view(), name="get_task_list"),
    path("get_tasks_status/<str:bk_biz_id>/", views.TasksStatusView.as_view(), name="get_tasks_status"),
    path("claim_functionalization_task/<str:task_id>/<str:bk_biz_id>/",
         views.ClaimFunctionalizationTaskView.as_view(), name="claim_functionalization_task"),
    path("preview_task_tree/<str:bk_biz_id>/<str:template_id>/", views.PreviewTaskTreeView.as_view(),
         name="preview_task_tree"),
]
