-- Rule versions (optimistic concurrency on TerminateAvailabilityRule) and the idempotency keys
-- of CreateAvailabilityRule (AIP-155 request_id). Re-runnable on MySQL 8 too, which has no
-- ADD COLUMN IF NOT EXISTS: the ALTER is chosen from information_schema and prepared.

SET @add_version = IF((SELECT COUNT(*) FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'productAvailabilityRule'
      AND COLUMN_NAME = 'version') = 0,
  'ALTER TABLE productAvailabilityRule ADD COLUMN version BIGINT NOT NULL DEFAULT 1',
  'DO 0');
PREPARE add_version FROM @add_version;
EXECUTE add_version;
DEALLOCATE PREPARE add_version;

-- One row per request_id, written in the same transaction as the rule it created, so a key is
-- recorded exactly when its rule is. Rows older than 24 hours are ignored and purged by later
-- creates (ix_rule_request_created serves the purge). requestHash is SHA-256 of the request's
-- rule fields: the same key with another rule is refused.
CREATE TABLE IF NOT EXISTS availabilityRuleCreateRequest (
  requestId CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  requestHash BINARY(32) NOT NULL,
  productAvailabilityRuleId BIGINT NOT NULL,
  createdAt DATETIME(6) NOT NULL,
  PRIMARY KEY (requestId),
  KEY ix_rule_request_created (createdAt),
  CONSTRAINT fk_rule_request_rule FOREIGN KEY (productAvailabilityRuleId)
    REFERENCES productAvailabilityRule (productAvailabilityRuleId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
