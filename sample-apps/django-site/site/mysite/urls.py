from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve

urlpatterns = [
    path("", include("pages.urls")),
    path("clock/", include("clock.urls")),
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.STATIC_ROOT}),
]
handler404 = "pages.views.not_found"
handler500 = "pages.views.server_error"
