"""URLs of the operator pages (mounted at the site's root)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="pages/login.html", next_page="pages:task_list",
                                              redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="pages:login"), name="logout"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/<int:task_id>/", views.task_page, name="task_page"),
    path("tasks/<int:task_id>/status/", views.task_status, name="task_status"),
    path("tasks/<int:task_id>/node/", views.node_panel, name="node_panel"),
    path("tasks/<int:task_id>/action/", views.task_action, name="task_action"),
    path("templates/", views.template_list, name="template_list"),
    path("templates/preview/", views.template_preview, name="template_preview"),
    path("templates/<int:template_id>/", views.template_page, name="template_page"),
    path("templates/<int:template_id>/node/", views.template_node, name="template_node"),
    path("templates/<int:template_id>/create-task/", views.template_create_task, name="template_create_task"),
]
