<?php
$invoice = new Shop\Invoice([['tea', 3, 2.5], ['cake', 1, 4.25]]);
echo $invoice->render();
