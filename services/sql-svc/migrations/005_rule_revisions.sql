-- Rule revisions (issue 12): one row per channel, advanced in the same transaction as every
-- rule write on the channel (CreateAvailabilityRule, TerminateAvailabilityRule, seed-demo,
-- generate), so a reader that reads the revision and the rules in one snapshot can key a cache
-- by it. Plus the indexes that find a store's next rule boundary (the earliest
-- terminationDatetime after an instant, per scope) with one index dive each; the earliest
-- effectiveDatetime is served by the scope indexes of migration 002. Re-runnable on MySQL 8,
-- which has no ADD INDEX IF NOT EXISTS: the ALTER is chosen from information_schema.

CREATE TABLE IF NOT EXISTS channelRuleRevision (
  channelId INT NOT NULL,
  revision BIGINT UNSIGNED NOT NULL,
  updatedAt DATETIME(6) NOT NULL,
  PRIMARY KEY (channelId),
  CONSTRAINT fk_rule_revision_channel FOREIGN KEY (channelId) REFERENCES channel (channelId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every channel starts at 1 (rules written before this migration count as one write).
INSERT IGNORE INTO channelRuleRevision (channelId, revision, updatedAt)
  SELECT channelId, 1, UTC_TIMESTAMP(6) FROM channel;

SET @add_end_indexes = IF((SELECT COUNT(*) FROM information_schema.STATISTICS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'productAvailabilityRule'
      AND INDEX_NAME = 'ix_rule_group_scope_end') = 0,
  'ALTER TABLE productAvailabilityRule
     ADD KEY ix_rule_group_scope_end (productAvailabilityRuleGroupId, ruleType, terminationDatetime),
     ADD KEY ix_rule_market_end (marketId, productAvailabilityRuleGroupId, terminationDatetime),
     ADD KEY ix_rule_regional_end (regionalId, productAvailabilityRuleGroupId, terminationDatetime),
     ADD KEY ix_rule_restaurant_end (restaurantId, productAvailabilityRuleGroupId, terminationDatetime)',
  'DO 0');
PREPARE add_end_indexes FROM @add_end_indexes;
EXECUTE add_end_indexes;
DEALLOCATE PREPARE add_end_indexes;
