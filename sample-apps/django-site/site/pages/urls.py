from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("about/", views.about, name="about"),
    path("items/", views.item_list, name="items"),
    path("items/<slug:slug>/", views.item_detail, name="item"),
    path("contact/", views.contact, name="contact"),
    path("search/", views.search, name="search"),
    path("boom/", views.boom, name="boom"),
]
