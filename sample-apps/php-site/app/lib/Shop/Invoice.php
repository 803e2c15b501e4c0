<?php
namespace Shop;

final class Invoice
{
    public function __construct(private array $lines) {}

    public function render(): string
    {
        $total = array_sum(array_map(fn ($l) => $l[1] * $l[2], $this->lines));
        return sprintf("%d lines, total %s\n", count($this->lines), number_format($total, 2));
    }
}
