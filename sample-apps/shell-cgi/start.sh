#!/bin/sh
# Writes the word list the CGI scripts read, then serves /srv/www.
set -eu
words=/tmp/words.txt
printf '%s\n' pear apple fig apple banana fig apple > "$words"
echo "start.sh: $(wc -l < "$words") words ready"
exec busybox httpd -f -v -p 8080 -h /srv/www
