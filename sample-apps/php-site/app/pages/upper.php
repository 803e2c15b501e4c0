<?php echo mb_strtoupper("straße café"), "\n";
