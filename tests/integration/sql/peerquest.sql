-- rule approved_application_has_participant
SELECT count(*), json_group_array(json_array("a"."id", "u"."username", "a"."quest_id", "a"."reviewed_at", "a"."quest_id", "a"."applicant_id", ?4, ?5)) FILTER (WHERE NOT coalesce(EXISTS (SELECT 1 FROM "e_ssot__participants" AS "p" WHERE ("p"._from <= ?6 AND ("p"._to IS NULL OR "p"._to > ?6)) AND (("p"."quest_id" = "a"."quest_id") AND ("p"."user_id" = "a"."applicant_id"))), 0))
FROM "e_ssot__applications" AS "a", "e_ssot__users" AS "u"
WHERE ("a"._from <= ?1 AND ("a"._to IS NULL OR "a"._to > ?1))
  AND ("u"._from <= ?2 AND ("u"._to IS NULL OR "u"._to > ?2))
  AND (("a"."applicant_id" = "u"."id") AND ("a"."status" = ?3));
--   ?1 = Integer(1)  (snapshot of ssot.applications)
--   ?2 = Integer(1)  (snapshot of ssot.users)
--   ?3 = Text("approved")  (literal)
--   ?4 = Text("joined")  (literal)
--   ?5 = Text("2026-11-07T06:00:00Z")  (the run's time)
--   ?6 = Integer(1)  (snapshot of ssot.participants)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__applications__applicant_id__status" ON "e_ssot__applications"("applicant_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__participants__quest_id__user_id" ON "e_ssot__participants"("quest_id", "user_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__users__id" ON "e_ssot__users"("id", _from, _to);

-- rule participant_has_approved_application
SELECT count(*), json_group_array(json_array("p"."id", "u"."username", "p"."quest_id", "p"."status")) FILTER (WHERE NOT coalesce(EXISTS (SELECT 1 FROM "e_ssot__applications" AS "a" WHERE ("a"._from <= ?3 AND ("a"._to IS NULL OR "a"._to > ?3)) AND ((("a"."quest_id" = "p"."quest_id") AND ("a"."applicant_id" = "p"."user_id")) AND ("a"."status" = ?4))), 0))
FROM "e_ssot__participants" AS "p", "e_ssot__users" AS "u"
WHERE ("p"._from <= ?1 AND ("p"._to IS NULL OR "p"._to > ?1))
  AND ("u"._from <= ?2 AND ("u"._to IS NULL OR "u"._to > ?2))
  AND ("p"."user_id" = "u"."id");
--   ?1 = Integer(1)  (snapshot of ssot.participants)
--   ?2 = Integer(1)  (snapshot of ssot.users)
--   ?3 = Integer(1)  (snapshot of ssot.applications)
--   ?4 = Text("approved")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__applications__quest_id__applicant_id__status" ON "e_ssot__applications"("quest_id", "applicant_id", "status", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__participants__user_id" ON "e_ssot__participants"("user_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__users__id" ON "e_ssot__users"("id", _from, _to);

-- rule quest_with_participants_is_not_open
SELECT count(*), json_group_array(json_array("q"."id", "u"."username", "q"."title", "q"."status", ?5, "q"."id")) FILTER (WHERE NOT coalesce(("q"."status" <> ?6), 0))
FROM "e_ssot__quests" AS "q", "e_ssot__users" AS "u"
WHERE ("q"._from <= ?1 AND ("q"._to IS NULL OR "q"._to > ?1))
  AND ("u"._from <= ?2 AND ("u"._to IS NULL OR "u"._to > ?2))
  AND (("q"."creator_id" = "u"."id") AND EXISTS (SELECT 1 FROM "e_ssot__participants" AS "p" WHERE ("p"._from <= ?3 AND ("p"._to IS NULL OR "p"._to > ?3)) AND (("p"."quest_id" = "q"."id") AND ("p"."status" <> ?4))));
--   ?1 = Integer(1)  (snapshot of ssot.quests)
--   ?2 = Integer(1)  (snapshot of ssot.users)
--   ?3 = Integer(1)  (snapshot of ssot.participants)
--   ?4 = Text("dropped")  (literal)
--   ?5 = Text("in-progress")  (literal)
--   ?6 = Text("open")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__participants__quest_id" ON "e_ssot__participants"("quest_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__quests__creator_id" ON "e_ssot__quests"("creator_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__users__id" ON "e_ssot__users"("id", _from, _to);

-- rule quest_with_participants_has_assignee
SELECT count(*), json_group_array(json_array("q"."id", "u"."username", "q"."title", "q"."status", "p"."user_id", "q"."id")) FILTER (WHERE NOT coalesce(("q"."assigned_to_id" IS NOT NULL), 0))
FROM "e_ssot__quests" AS "q", "e_ssot__participants" AS "p", "e_ssot__users" AS "u"
WHERE ("q"._from <= ?1 AND ("q"._to IS NULL OR "q"._to > ?1))
  AND ("p"._from <= ?2 AND ("p"._to IS NULL OR "p"._to > ?2))
  AND ("u"._from <= ?3 AND ("u"._to IS NULL OR "u"._to > ?3))
  AND (((("p"."quest_id" = "q"."id") AND ("p"."status" <> ?4)) AND ("u"."id" = "p"."user_id")) AND (NOT EXISTS (SELECT 1 FROM "e_ssot__participants" AS "e" WHERE ("e"._from <= ?2 AND ("e"._to IS NULL OR "e"._to > ?2)) AND ((("e"."quest_id" = "q"."id") AND ("e"."status" <> ?4)) AND (("e"."joined_at" < "p"."joined_at") OR (("e"."joined_at" = "p"."joined_at") AND ("e"."id" < "p"."id")))))));
--   ?1 = Integer(1)  (snapshot of ssot.quests)
--   ?2 = Integer(1)  (snapshot of ssot.participants)
--   ?3 = Integer(1)  (snapshot of ssot.users)
--   ?4 = Text("dropped")  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__participants__quest_id__user_id" ON "e_ssot__participants"("quest_id", "user_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__quests__id" ON "e_ssot__quests"("id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__users__id" ON "e_ssot__users"("id", _from, _to);

-- rule one_participant_per_user_and_quest
SELECT count(*), json_group_array(json_array(_o1, _o2, _o3, _o4, _o5)) FILTER (WHERE NOT coalesce(_ok, 0))
FROM (SELECT "p"."quest_id" AS _o1, "u"."username" AS _o2, "u"."username" AS _o3, "p"."quest_id" AS _o4, count(*) AS _o5, (count(*) = ?3) AS _ok
  FROM "e_ssot__participants" AS "p", "e_ssot__users" AS "u"
  WHERE ("p"._from <= ?1 AND ("p"._to IS NULL OR "p"._to > ?1))
    AND ("u"._from <= ?2 AND ("u"._to IS NULL OR "u"._to > ?2))
    AND ("p"."user_id" = "u"."id")
  GROUP BY "p"."quest_id", "u"."username");
--   ?1 = Integer(1)  (snapshot of ssot.participants)
--   ?2 = Integer(1)  (snapshot of ssot.users)
--   ?3 = Integer(1)  (literal)
CREATE INDEX IF NOT EXISTS "ix_e_ssot__participants__user_id" ON "e_ssot__participants"("user_id", _from, _to);
CREATE INDEX IF NOT EXISTS "ix_e_ssot__users__id" ON "e_ssot__users"("id", _from, _to);

