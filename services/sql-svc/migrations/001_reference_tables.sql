-- Reference data the availability rules point at: channels, markets, regions, restaurants,
-- menu types and which menu types a restaurant serves on which channel. Names as in the case
-- study. Codes use a binary collation so that ordering and equality are exact on MySQL 8
-- (whose default collation is accent- and case-insensitive) as on MariaDB.

CREATE TABLE IF NOT EXISTS channel (
  channelId INT NOT NULL AUTO_INCREMENT,
  channelCode VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (channelId),
  UNIQUE KEY uq_channel_code (channelCode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS market (
  marketId INT NOT NULL AUTO_INCREMENT,
  marketCode VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (marketId),
  UNIQUE KEY uq_market_code (marketCode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS regional (
  regionalId INT NOT NULL AUTO_INCREMENT,
  regionalCode VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  marketId INT NOT NULL,
  PRIMARY KEY (regionalId),
  UNIQUE KEY uq_regional_code (regionalCode),
  KEY ix_regional_market (marketId),
  CONSTRAINT fk_regional_market FOREIGN KEY (marketId) REFERENCES market (marketId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS restaurant (
  restaurantId INT NOT NULL AUTO_INCREMENT,
  restaurantCode VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  marketId INT NOT NULL,
  regionalId INT NOT NULL,
  PRIMARY KEY (restaurantId),
  UNIQUE KEY uq_restaurant_code (restaurantCode),
  KEY ix_restaurant_market (marketId),
  KEY ix_restaurant_regional (regionalId),
  CONSTRAINT fk_restaurant_market FOREIGN KEY (marketId) REFERENCES market (marketId),
  CONSTRAINT fk_restaurant_regional FOREIGN KEY (regionalId) REFERENCES regional (regionalId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS menuType (
  menuTypeId INT NOT NULL AUTO_INCREMENT,
  menuTypeCode VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  PRIMARY KEY (menuTypeId),
  UNIQUE KEY uq_menu_type_code (menuTypeCode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The primary key serves both questions the availability query asks: "is the store on this
-- channel at all" (prefix restaurantId, channelId) and "does it serve this menu type there".
CREATE TABLE IF NOT EXISTS restaurantChannelMenuTypeAssociation (
  restaurantId INT NOT NULL,
  channelId INT NOT NULL,
  menuTypeId INT NOT NULL,
  PRIMARY KEY (restaurantId, channelId, menuTypeId),
  KEY ix_assoc_channel (channelId),
  KEY ix_assoc_menu_type (menuTypeId),
  CONSTRAINT fk_assoc_restaurant FOREIGN KEY (restaurantId) REFERENCES restaurant (restaurantId),
  CONSTRAINT fk_assoc_channel FOREIGN KEY (channelId) REFERENCES channel (channelId),
  CONSTRAINT fk_assoc_menu_type FOREIGN KEY (menuTypeId) REFERENCES menuType (menuTypeId)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS product (
  productId INT NOT NULL AUTO_INCREMENT,
  productCode VARCHAR(50) COLLATE utf8mb4_bin NOT NULL,
  displayName VARCHAR(255) NOT NULL,
  productTypeId INT NOT NULL DEFAULT 1,
  productTypeQualifierId INT NULL,
  PRIMARY KEY (productId),
  UNIQUE KEY uq_product_code (productCode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
