from django.urls import path

from . import views

urlpatterns = [
    path("get_periodic_task_list/<str:bk_biz_id>/", views.PeriodicTaskListView.as_view(),
         name="get_periodic_task_list"),
    path("get_periodic_task_info/<str:task_id>/<str:bk_biz_id>/", views.PeriodicTaskInfoView.as_view(),
         name="get_periodic_task_info"),
    path("create_periodic_task/<str:template_id>/<str:bk_biz_id>/", views.CreatePeriodicTaskView.as_view(),
         name="create_periodic_task"),
    path("set_periodic_task_enabled/<str:task_id>/<str:bk_biz_id>/", views.SetPeriodicTaskEnabledView.as_view(),
         name="set_periodic_task_enabled"),
    path("modify_cron_for_periodic_task/<str:task_id>/<str:bk_biz_id>/", views.ModifyCronView.as_view(),
         name="modify_cron_for_periodic_task"),
    path("modify_constants_for_periodic_task/<str:task_id>/<str:bk_biz_id>/", views.ModifyConstantsView.as_view(),
         name="modify_constants_for_periodic_task"),
    path("get_periodic_task_history/<str:task_id>/<str:bk_biz_id>/", views.PeriodicTaskHistoryView.as_view(),
         name="get_periodic_task_history"),
]
