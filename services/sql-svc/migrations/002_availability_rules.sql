-- Availability rules and their groups. A group belongs to one channel and one group type; the
-- type's groupRanking orders rules (lower wins). Times are UTC DATETIME(6): no session time
-- zone conversion and no 2038 limit, unlike TIMESTAMP. Rules are never deleted (audit).

CREATE TABLE IF NOT EXISTS productAvailabilityRuleGroupType (
  productAvailabilityRuleGroupTypeId INT NOT NULL AUTO_INCREMENT,
  code VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  groupRanking INT NOT NULL,
  PRIMARY KEY (productAvailabilityRuleGroupTypeId),
  UNIQUE KEY uq_rule_group_type_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS productAvailabilityRuleGroup (
  productAvailabilityRuleGroupId INT NOT NULL AUTO_INCREMENT,
  productAvailabilityRuleGroupTypeId INT NOT NULL,
  channelId INT NOT NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  PRIMARY KEY (productAvailabilityRuleGroupId),
  KEY ix_rule_group_channel (channelId, productAvailabilityRuleGroupTypeId),
  KEY ix_rule_group_type (productAvailabilityRuleGroupTypeId),
  CONSTRAINT fk_rule_group_type FOREIGN KEY (productAvailabilityRuleGroupTypeId)
    REFERENCES productAvailabilityRuleGroupType (productAvailabilityRuleGroupTypeId),
  CONSTRAINT fk_rule_group_channel FOREIGN KEY (channelId) REFERENCES channel (channelId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Index per scope, each led by the scope column and then the group (i.e. the channel), so that
-- the availability query reads only the rules of one store's market, region and restaurant
-- plus the global rules of the channel's groups; never the whole table.
CREATE TABLE IF NOT EXISTS productAvailabilityRule (
  productAvailabilityRuleId BIGINT NOT NULL AUTO_INCREMENT,
  productId INT NOT NULL,
  productAvailabilityRuleGroupId INT NOT NULL,
  ruleType VARCHAR(20) COLLATE utf8mb4_bin NOT NULL,
  ruleEffect VARCHAR(10) COLLATE utf8mb4_bin NOT NULL,
  isHidden TINYINT(1) NOT NULL DEFAULT 0,
  isActive TINYINT(1) NOT NULL DEFAULT 1,
  restaurantId INT NULL,
  marketId INT NULL,
  regionalId INT NULL,
  menuTypeId INT NULL,
  effectiveDatetime DATETIME(6) NOT NULL,
  terminationDatetime DATETIME(6) NOT NULL,
  createdBy VARCHAR(100) NOT NULL,
  createdAt DATETIME(6) NOT NULL,
  updatedBy VARCHAR(100) NOT NULL,
  updatedAt DATETIME(6) NOT NULL,
  PRIMARY KEY (productAvailabilityRuleId),
  KEY ix_rule_group_scope (productAvailabilityRuleGroupId, ruleType, effectiveDatetime),
  KEY ix_rule_market (marketId, productAvailabilityRuleGroupId, effectiveDatetime),
  KEY ix_rule_regional (regionalId, productAvailabilityRuleGroupId, effectiveDatetime),
  KEY ix_rule_restaurant (restaurantId, productAvailabilityRuleGroupId, effectiveDatetime),
  KEY ix_rule_product (productId, productAvailabilityRuleGroupId),
  KEY ix_rule_menu_type (menuTypeId),
  CONSTRAINT fk_rule_product FOREIGN KEY (productId) REFERENCES product (productId),
  CONSTRAINT fk_rule_group FOREIGN KEY (productAvailabilityRuleGroupId)
    REFERENCES productAvailabilityRuleGroup (productAvailabilityRuleGroupId),
  CONSTRAINT fk_rule_restaurant FOREIGN KEY (restaurantId) REFERENCES restaurant (restaurantId),
  CONSTRAINT fk_rule_market FOREIGN KEY (marketId) REFERENCES market (marketId),
  CONSTRAINT fk_rule_regional FOREIGN KEY (regionalId) REFERENCES regional (regionalId),
  CONSTRAINT fk_rule_menu_type FOREIGN KEY (menuTypeId) REFERENCES menuType (menuTypeId),
  CONSTRAINT ck_rule_type
    CHECK (ruleType IN ('global-experience', 'market', 'regional', 'restaurant')),
  CONSTRAINT ck_rule_effect CHECK (ruleEffect IN ('allow', 'deny')),
  CONSTRAINT ck_rule_scope CHECK (
    (ruleType = 'global-experience' AND marketId IS NULL AND regionalId IS NULL
       AND restaurantId IS NULL)
    OR (ruleType = 'market' AND marketId IS NOT NULL AND regionalId IS NULL
       AND restaurantId IS NULL)
    OR (ruleType = 'regional' AND regionalId IS NOT NULL AND marketId IS NULL
       AND restaurantId IS NULL)
    OR (ruleType = 'restaurant' AND restaurantId IS NOT NULL AND marketId IS NULL
       AND regionalId IS NULL)),
  CONSTRAINT ck_rule_window CHECK (effectiveDatetime < terminationDatetime),
  CONSTRAINT ck_rule_flags CHECK (isHidden IN (0, 1) AND isActive IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
