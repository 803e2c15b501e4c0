<?php echo "Custom not found page\n";
