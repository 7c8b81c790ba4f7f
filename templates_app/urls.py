from django.urls import path

from . import views

urlpatterns = [
    path("get_template_list/<str:bk_biz_id>/", views.TemplateListView.as_view(), name="get_template_list"),
    path("get_template_info/<str:template_id>/<str:bk_biz_id>/", views.TemplateInfoView.as_view(),
         name="get_template_info"),
    # The spec's own get_template_info example calls /get_template_list/{template_id}/{bk_biz_id}/;
    # answer it as the example expects.
    path("get_template_list/<str:template_id>/<str:bk_biz_id>/", views.TemplateInfoAliasView.as_view(),
         name="get_template_info_alias"),
]
