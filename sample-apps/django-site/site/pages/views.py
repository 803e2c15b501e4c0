from django.http import Http404
from django.shortcuts import render

ITEMS = {
    "anvil": "A heavy iron block.",
    "kettle": "Boils water, whistles.",
    "lantern": "Brass, with a glass chimney.",
}


def home(request):
    return render(request, "pages/home.html")


def about(request):
    return render(request, "pages/about.html")


def item_list(request):
    return render(request, "pages/items.html", {"items": sorted(ITEMS)})


def item_detail(request, slug):
    if slug not in ITEMS:
        raise Http404("no such item")
    return render(request, "pages/item.html", {"slug": slug, "text": ITEMS[slug]})


def contact(request):
    if request.method == "POST":
        name = request.POST.get("name", "").strip() or "stranger"
        return render(request, "pages/thanks.html", {"name": name})
    return render(request, "pages/contact.html")


def search(request):
    query = request.GET.get("q", "").strip().lower()
    hits = [slug for slug in sorted(ITEMS) if query and (query in slug or query in ITEMS[slug].lower())]
    return render(request, "pages/search.html", {"query": query, "hits": hits})


def boom(request):
    raise ValueError("boom: the sample view failed on purpose")


def not_found(request, exception):
    return render(request, "404.html", status=404)


def server_error(request):
    return render(request, "500.html", status=500)
