<?php echo bin2hex(iconv('UTF-8', 'ISO-8859-1', "café")), "\n";
