<?php
// Routes /NAME to pages/NAME.php: the file to include is computed from the request.
spl_autoload_register(function (string $class): void {
    require __DIR__ . '/lib/' . str_replace('\\', '/', $class) . '.php';
});
$name = trim(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH), '/') ?: 'home';
$page = __DIR__ . '/pages/' . basename($name) . '.php';
if (!is_file($page)) {
    http_response_code(404);
    $page = __DIR__ . '/pages/missing.php';
}
header('Content-Type: text/plain; charset=utf-8');
include $page;
