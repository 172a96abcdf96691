<?php
// The router of PHP's built-in server: every request goes to WordPress (as its .htaccess would
// send it), set up by env.php instead of Debian's wp-config.php.
require __DIR__ . '/env.php';
define('WP_USE_THEMES', false);
require ABSPATH . 'wp-settings.php';
wp();
status_header(404);
