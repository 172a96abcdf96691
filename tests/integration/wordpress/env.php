<?php
// The settings of a throwaway WordPress for driftwatch's tests, from the environment: the
// MariaDB database it lives in and the URL it is served at. Debian's wp-config.php looks for a
// file under /etc/wordpress; these tests write nothing there and define it all here instead.
define('DB_NAME', getenv('DW_WP_DB'));
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', '127.0.0.1');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('ABSPATH', '/usr/share/wordpress/');
define('WP_CONTENT_DIR', '/usr/share/wordpress/wp-content');
define('WP_HOME', getenv('DW_WP_URL'));
define('WP_SITEURL', getenv('DW_WP_URL'));
// Application passwords over plain http on loopback.
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_AUTO_UPDATE_CORE', false);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
$table_prefix = 'wp_';
