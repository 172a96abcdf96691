<?php
// Installs the test WordPress into its empty database with WordPress's own functions, adds
// users and application passwords, and prints (as JSON) the passwords and what `users` must
// collect, read back from WordPress's database.
$_SERVER['HTTP_HOST'] = parse_url(getenv('DW_WP_URL'), PHP_URL_HOST) . ':' . parse_url(getenv('DW_WP_URL'), PHP_URL_PORT);
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require __DIR__ . '/env.php';
require ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

wp_install('driftwatch test', 'wpadmin', 'wpadmin@example.org', false, '', wp_generate_password(24));
update_option('permalink_structure', '/%postname%/');
flush_rewrite_rules(true);

// A role that may list users but not edit them.
add_role('lister', 'Lister', ['read' => true, 'list_users' => true]);
$names = ['Chloé Martin', 'Łukasz Nowak', 'Ольга Петрова', "Tom & Jerry's <b>Club</b>", '  padded   name  '];
for ($i = 1; $i <= 130; $i++) {
    $id = wp_insert_user([
        'user_login' => "member$i",
        'user_email' => "member$i@example.org",
        'display_name' => $names[$i % count($names)] . " $i",
        'user_pass' => wp_generate_password(24),
        'role' => $i % 10 == 0 ? 'editor' : 'subscriber',
    ]);
    if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }
    if ($i % 7 == 0) { (new WP_User($id))->add_role('author'); }
    if ($i % 11 == 0) { (new WP_User($id))->set_role(''); }
}
$reader = wp_insert_user(['user_login' => 'dw_reader', 'user_email' => 'reader@example.org',
    'user_pass' => wp_generate_password(24), 'role' => 'lister']);

$admin = get_user_by('login', 'wpadmin');
[$admin_password] = WP_Application_Passwords::create_new_application_password($admin->ID, ['name' => 'driftwatch']);
[$reader_password] = WP_Application_Passwords::create_new_application_password($reader, ['name' => 'driftwatch']);

// What `users` must hold, from the database: id, username, name, email, roles, registered_date.
global $wpdb;
$rows = [];
foreach ($wpdb->get_results("SELECT ID, user_login, display_name, user_email, user_registered FROM {$wpdb->users} ORDER BY ID") as $u) {
    $caps = get_user_meta($u->ID, $wpdb->prefix . 'capabilities', true);
    $roles = is_array($caps) ? array_keys(array_filter($caps)) : [];
    sort($roles);
    $rows[] = [(int) $u->ID, $u->user_login, html_entity_decode($u->display_name, ENT_QUOTES | ENT_HTML5, 'UTF-8'),
        $u->user_email, implode(',', $roles), str_replace(' ', 'T', $u->user_registered) . 'Z'];
}
echo json_encode(['admin_password' => $admin_password, 'reader_password' => $reader_password, 'users' => $rows]);
