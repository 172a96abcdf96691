-- rule enrolled_member_in_course_channel
SELECT count(*), json_group_array(json_array("e"."id", "m"."email", "c"."code", "c"."teams_channel_id", "c"."teams_team_id", "c"."teams_channel_id", "m"."entra_id")) FILTER (WHERE NOT coalesce(EXISTS (SELECT 1 FROM "e_teams__channel_members" AS "t" WHERE ("t"._from <= ?5 AND ("t"._to IS NULL OR "t"._to > ?5)) AND (("t"."channel_id" = "c"."teams_channel_id") AND ("t"."user_id" = "m"."entra_id"))), 0))
FROM "e_ssot__enrollments" AS "e", "e_ssot__members" AS "m", "e_ssot__courses" AS "c"
WHERE ("e"._from <= ?1 AND ("e"._to IS NULL OR "e"._to > ?1))
  AND ("m"._from <= ?2 AND ("m"._to IS NULL OR "m"._to > ?2))
  AND ("c"._from <= ?3 AND ("c"._to IS NULL OR "c"._to > ?3))
  AND (((("e"."member_id" = "m"."id") AND ("e"."course_id" = "c"."id")) AND ("e"."status" = ?4)) AND ("m"."status" = ?4));
--   ?1 = Integer(31)  (snapshot of ssot.enrollments)
--   ?2 = Integer(31)  (snapshot of ssot.members)
--   ?3 = Integer(31)  (snapshot of ssot.courses)
--   ?4 = Text("active")  (literal)
--   ?5 = Integer(33)  (snapshot of teams.channel_members)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__courses__id" ON "e_ssot__courses"("id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__enrollments__member_id__course_id__status" ON "e_ssot__enrollments"("member_id", "course_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__id__status" ON "e_ssot__members"("id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_teams__channel_members__channel_id__user_id" ON "e_teams__channel_members"("channel_id", "user_id", _from, _to);

-- rule channel_member_is_enrolled
SELECT count(*), json_group_array(json_array("t"."id", "t"."email", "c"."code", "t"."user_id", "t"."team_id", "t"."channel_id", "t"."id")) FILTER (WHERE NOT coalesce(EXISTS (SELECT 1 FROM "e_ssot__enrollments" AS "e" WHERE ("e"._from <= ?5 AND ("e"._to IS NULL OR "e"._to > ?5)) AND ((("e"."course_id" = "c"."id") AND ("e"."status" = ?6)) AND EXISTS (SELECT 1 FROM "e_ssot__members" AS "m" WHERE ("m"._from <= ?7 AND ("m"._to IS NULL OR "m"._to > ?7)) AND ((("m"."id" = "e"."member_id") AND ("m"."entra_id" = "t"."user_id")) AND ("m"."status" = ?6))))), 0))
FROM "e_teams__channel_members" AS "t", "e_ssot__courses" AS "c"
WHERE ("t"._from <= ?1 AND ("t"._to IS NULL OR "t"._to > ?1))
  AND ("c"._from <= ?2 AND ("c"._to IS NULL OR "c"._to > ?2))
  AND (("c"."teams_channel_id" = "t"."channel_id") AND (NOT (instr(coalesce("t"."roles", ?3), ?4) > 0)));
--   ?1 = Integer(33)  (snapshot of teams.channel_members)
--   ?2 = Integer(31)  (snapshot of ssot.courses)
--   ?3 = Text("")  (literal)
--   ?4 = Text("owner")  (literal)
--   ?5 = Integer(31)  (snapshot of ssot.enrollments)
--   ?6 = Text("active")  (literal)
--   ?7 = Integer(31)  (snapshot of ssot.members)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__courses__teams_channel_id" ON "e_ssot__courses"("teams_channel_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__enrollments__course_id__status" ON "e_ssot__enrollments"("course_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__id__entra_id__status" ON "e_ssot__members"("id", "entra_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_teams__channel_members__channel_id" ON "e_teams__channel_members"("channel_id", _from, _to);

-- rule mentor_owns_course_channel
SELECT count(*), json_group_array(json_array("e"."id", "m"."email", "c"."code", "t"."roles", "c"."teams_team_id", "c"."teams_channel_id", "t"."id", ?7)) FILTER (WHERE NOT coalesce((instr("t"."roles", ?7) > 0), 0))
FROM "e_ssot__enrollments" AS "e", "e_ssot__members" AS "m", "e_ssot__courses" AS "c", "e_teams__channel_members" AS "t"
WHERE ("e"._from <= ?1 AND ("e"._to IS NULL OR "e"._to > ?1))
  AND ("m"._from <= ?2 AND ("m"._to IS NULL OR "m"._to > ?2))
  AND ("c"._from <= ?3 AND ("c"._to IS NULL OR "c"._to > ?3))
  AND ("t"._from <= ?4 AND ("t"._to IS NULL OR "t"._to > ?4))
  AND (((((("e"."member_id" = "m"."id") AND ("e"."course_id" = "c"."id")) AND ("e"."role" = ?5)) AND ("e"."status" = ?6)) AND ("t"."channel_id" = "c"."teams_channel_id")) AND ("t"."user_id" = "m"."entra_id"));
--   ?1 = Integer(31)  (snapshot of ssot.enrollments)
--   ?2 = Integer(31)  (snapshot of ssot.members)
--   ?3 = Integer(31)  (snapshot of ssot.courses)
--   ?4 = Integer(33)  (snapshot of teams.channel_members)
--   ?5 = Text("mentor")  (literal)
--   ?6 = Text("active")  (literal)
--   ?7 = Text("owner")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__courses__id__teams_channel_id" ON "e_ssot__courses"("id", "teams_channel_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__enrollments__member_id__course_id__role__status" ON "e_ssot__enrollments"("member_id", "course_id", "role", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__id__entra_id" ON "e_ssot__members"("id", "entra_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_teams__channel_members__channel_id__user_id" ON "e_teams__channel_members"("channel_id", "user_id", _from, _to);

-- rule enrolled_member_in_lms_course
SELECT count(*), json_group_array(json_array("e"."id", "m"."email", "c"."code", "c"."lms_course_id", "c"."lms_course_id", "m"."wp_user_id")) FILTER (WHERE NOT coalesce(EXISTS (SELECT 1 FROM "e_wordpress__course_users" AS "u" WHERE ("u"._from <= ?5 AND ("u"._to IS NULL OR "u"._to > ?5)) AND (("u"."course_id" = "c"."lms_course_id") AND ("u"."user_id" = "m"."wp_user_id"))), 0))
FROM "e_ssot__enrollments" AS "e", "e_ssot__members" AS "m", "e_ssot__courses" AS "c"
WHERE ("e"._from <= ?1 AND ("e"._to IS NULL OR "e"._to > ?1))
  AND ("m"._from <= ?2 AND ("m"._to IS NULL OR "m"._to > ?2))
  AND ("c"._from <= ?3 AND ("c"._to IS NULL OR "c"._to > ?3))
  AND (((("e"."member_id" = "m"."id") AND ("e"."course_id" = "c"."id")) AND ("e"."status" = ?4)) AND ("m"."status" = ?4));
--   ?1 = Integer(31)  (snapshot of ssot.enrollments)
--   ?2 = Integer(31)  (snapshot of ssot.members)
--   ?3 = Integer(31)  (snapshot of ssot.courses)
--   ?4 = Text("active")  (literal)
--   ?5 = Integer(34)  (snapshot of wordpress.course_users)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__courses__id" ON "e_ssot__courses"("id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__enrollments__member_id__course_id__status" ON "e_ssot__enrollments"("member_id", "course_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__id__status" ON "e_ssot__members"("id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_wordpress__course_users__course_id__user_id" ON "e_wordpress__course_users"("course_id", "user_id", _from, _to);

-- rule quiz_passed_unrestricted_in_wordpress
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", ?6, "w"."roles", "q"."taken_at", "w"."id", ?7)) FILTER (WHERE NOT coalesce((NOT (instr("w"."roles", ?8) > 0)), 0))
FROM "e_ssot__members" AS "m", "e_ssot__quiz_results" AS "q", "e_wordpress__users" AS "w"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("q"._from <= ?2 AND ("q"._to IS NULL OR "q"._to > ?2))
  AND ("w"._from <= ?3 AND ("w"._to IS NULL OR "w"._to > ?3))
  AND ((((("q"."member_id" = "m"."id") AND ("q"."quiz" = ?4)) AND "q"."passed") AND ("w"."id" = "m"."wp_user_id")) AND ("m"."status" = ?5));
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Integer(31)  (snapshot of ssot.quiz_results)
--   ?3 = Integer(34)  (snapshot of wordpress.users)
--   ?4 = Text("compliance")  (literal)
--   ?5 = Text("active")  (literal)
--   ?6 = Text("wordpress")  (literal)
--   ?7 = Text("subscriber")  (literal)
--   ?8 = Text("restricted")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__id__wp_user_id__status" ON "e_ssot__members"("id", "wp_user_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__quiz_results__member_id__quiz" ON "e_ssot__quiz_results"("member_id", "quiz", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_wordpress__users__id" ON "e_wordpress__users"("id", _from, _to);

-- rule quiz_passed_unrestricted_in_q2a
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", ?6, "u"."level", "q"."taken_at", ?7, "u"."userid")) FILTER (WHERE NOT coalesce(("u"."level" >= ?7), 0))
FROM "e_ssot__members" AS "m", "e_ssot__quiz_results" AS "q", "e_q2a__users" AS "u"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("q"._from <= ?2 AND ("q"._to IS NULL OR "q"._to > ?2))
  AND ("u"._from <= ?3 AND ("u"._to IS NULL OR "u"._to > ?3))
  AND ((((("q"."member_id" = "m"."id") AND ("q"."quiz" = ?4)) AND "q"."passed") AND ("u"."userid" = "m"."q2a_user_id")) AND ("m"."status" = ?5));
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Integer(31)  (snapshot of ssot.quiz_results)
--   ?3 = Integer(35)  (snapshot of q2a.users)
--   ?4 = Text("compliance")  (literal)
--   ?5 = Text("active")  (literal)
--   ?6 = Text("q2a")  (literal)
--   ?7 = Integer(10)  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_q2a__users__userid" ON "e_q2a__users"("userid", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__id__q2a_user_id__status" ON "e_ssot__members"("id", "q2a_user_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__quiz_results__member_id__quiz" ON "e_ssot__quiz_results"("member_id", "quiz", _from, _to);

-- rule guest_disabled_unless_active_member
SELECT count(*), json_group_array(json_array("u"."id", "u"."mail", "u"."user_principal_name", "u"."external_user_state", "u"."id")) FILTER (WHERE NOT coalesce(EXISTS (SELECT 1 FROM "e_ssot__members" AS "m" WHERE ("m"._from <= ?3 AND ("m"._to IS NULL OR "m"._to > ?3)) AND (("m"."entra_id" = "u"."id") AND ("m"."status" = ?4))), 0))
FROM "e_entra__users" AS "u"
WHERE ("u"._from <= ?1 AND ("u"._to IS NULL OR "u"._to > ?1))
  AND (("u"."user_type" = ?2) AND "u"."account_enabled");
--   ?1 = Integer(32)  (snapshot of entra.users)
--   ?2 = Text("Guest")  (literal)
--   ?3 = Integer(31)  (snapshot of ssot.members)
--   ?4 = Text("active")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__entra_id__status" ON "e_ssot__members"("entra_id", "status", _from, _to);

-- rule email_matches_entra
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", ?3, "u"."mail", "u"."id", "m"."email")) FILTER (WHERE NOT coalesce(("u"."mail" = "m"."email"), 0))
FROM "e_ssot__members" AS "m", "e_entra__users" AS "u"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("u"._from <= ?2 AND ("u"._to IS NULL OR "u"._to > ?2))
  AND ("u"."id" = "m"."entra_id");
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Integer(32)  (snapshot of entra.users)
--   ?3 = Text("entra")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_entra__users__id" ON "e_entra__users"("id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__entra_id" ON "e_ssot__members"("entra_id", _from, _to);

-- rule email_matches_wordpress
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", ?3, "w"."email", "w"."id", "m"."email")) FILTER (WHERE NOT coalesce(("w"."email" = "m"."email"), 0))
FROM "e_ssot__members" AS "m", "e_wordpress__users" AS "w"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("w"._from <= ?2 AND ("w"._to IS NULL OR "w"._to > ?2))
  AND ("w"."id" = "m"."wp_user_id");
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Integer(34)  (snapshot of wordpress.users)
--   ?3 = Text("wordpress")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__wp_user_id" ON "e_ssot__members"("wp_user_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_wordpress__users__id" ON "e_wordpress__users"("id", _from, _to);

-- rule email_matches_q2a
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", ?4, "u"."email", "m"."email", "u"."userid")) FILTER (WHERE NOT coalesce(("u"."email" = "m"."email"), 0))
FROM "e_ssot__members" AS "m", "e_q2a__users" AS "u"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("u"._from <= ?2 AND ("u"._to IS NULL OR "u"._to > ?2))
  AND (("u"."userid" = "m"."q2a_user_id") AND ("m"."status" = ?3));
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Integer(35)  (snapshot of q2a.users)
--   ?3 = Text("active")  (literal)
--   ?4 = Text("q2a")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_q2a__users__userid" ON "e_q2a__users"("userid", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__q2a_user_id__status" ON "e_ssot__members"("q2a_user_id", "status", _from, _to);

-- rule member_registered_consistently
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", "m"."role")) FILTER (WHERE NOT coalesce(((EXISTS (SELECT 1 FROM "e_entra__users" AS "u" WHERE ("u"._from <= ?3 AND ("u"._to IS NULL OR "u"._to > ?3)) AND ((("u"."id" = "m"."entra_id") AND ("u"."mail" = "m"."email")) AND "u"."account_enabled")) AND EXISTS (SELECT 1 FROM "e_wordpress__users" AS "w" WHERE ("w"._from <= ?4 AND ("w"._to IS NULL OR "w"._to > ?4)) AND (("w"."id" = "m"."wp_user_id") AND ("w"."email" = "m"."email")))) AND EXISTS (SELECT 1 FROM "e_q2a__users" AS "a" WHERE ("a"._from <= ?5 AND ("a"._to IS NULL OR "a"._to > ?5)) AND (("a"."userid" = "m"."q2a_user_id") AND ("a"."email" = "m"."email")))), 0))
FROM "e_ssot__members" AS "m"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("m"."status" = ?2);
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Text("active")  (literal)
--   ?3 = Integer(32)  (snapshot of entra.users)
--   ?4 = Integer(34)  (snapshot of wordpress.users)
--   ?5 = Integer(35)  (snapshot of q2a.users)
CREATE INDEX IF NOT EXISTS "ix_e_entra__users__id__mail" ON "e_entra__users"("id", "mail", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_q2a__users__userid__email" ON "e_q2a__users"("userid", "email", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_wordpress__users__id__email" ON "e_wordpress__users"("id", "email", _from, _to);

-- rule member_roles_match_platforms
SELECT count(*), json_group_array(json_array("m"."id", "m"."email", "m"."role", "w"."roles", "a"."level")) FILTER (WHERE NOT coalesce((((((("m"."role" = ?5) AND ("w"."roles" = ?6)) AND ("a"."level" = ?7)) OR ((("m"."role" = ?8) AND ("w"."roles" = ?8)) AND ("a"."level" = ?9))) OR (((("m"."role" = ?10) AND EXISTS (SELECT 1 FROM "e_ssot__quiz_results" AS "q" WHERE ("q"._from <= ?11 AND ("q"._to IS NULL OR "q"._to > ?11)) AND ((("q"."member_id" = "m"."id") AND ("q"."quiz" = ?12)) AND "q"."passed"))) AND ("w"."roles" = ?13)) AND ("a"."level" = ?14))) OR (((("m"."role" = ?10) AND (NOT EXISTS (SELECT 1 FROM "e_ssot__quiz_results" AS "q" WHERE ("q"._from <= ?11 AND ("q"._to IS NULL OR "q"._to > ?11)) AND ((("q"."member_id" = "m"."id") AND ("q"."quiz" = ?12)) AND "q"."passed")))) AND ("w"."roles" = ?15)) AND ("a"."level" = ?16))), 0))
FROM "e_ssot__members" AS "m", "e_wordpress__users" AS "w", "e_q2a__users" AS "a"
WHERE ("m"._from <= ?1 AND ("m"._to IS NULL OR "m"._to > ?1))
  AND ("w"._from <= ?2 AND ("w"._to IS NULL OR "w"._to > ?2))
  AND ("a"._from <= ?3 AND ("a"._to IS NULL OR "a"._to > ?3))
  AND ((("m"."status" = ?4) AND ("w"."id" = "m"."wp_user_id")) AND ("a"."userid" = "m"."q2a_user_id"));
--   ?1 = Integer(31)  (snapshot of ssot.members)
--   ?2 = Integer(34)  (snapshot of wordpress.users)
--   ?3 = Integer(35)  (snapshot of q2a.users)
--   ?4 = Text("active")  (literal)
--   ?5 = Text("mentor")  (literal)
--   ?6 = Text("group_leader")  (literal)
--   ?7 = Integer(20)  (literal)
--   ?8 = Text("advisor")  (literal)
--   ?9 = Integer(50)  (literal)
--   ?10 = Text("member")  (literal)
--   ?11 = Integer(31)  (snapshot of ssot.quiz_results)
--   ?12 = Text("compliance")  (literal)
--   ?13 = Text("subscriber")  (literal)
--   ?14 = Integer(10)  (literal)
--   ?15 = Text("restricted")  (literal)
--   ?16 = Integer(0)  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_q2a__users__userid" ON "e_q2a__users"("userid", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__members__wp_user_id__q2a_user_id__status" ON "e_ssot__members"("wp_user_id", "q2a_user_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__quiz_results__member_id__quiz" ON "e_ssot__quiz_results"("member_id", "quiz", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_wordpress__users__id" ON "e_wordpress__users"("id", _from, _to);

