-- The channels the API knows (enum menu.v1.Channel without UNSPECIFIED), as channelCode.
INSERT IGNORE INTO channel (channelCode) VALUES
  ('KIOSK'), ('WEB'), ('APP'), ('DRIVE_THRU'), ('DELIVERY');
