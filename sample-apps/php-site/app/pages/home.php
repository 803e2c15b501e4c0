<?php echo "PHP sample\n";
