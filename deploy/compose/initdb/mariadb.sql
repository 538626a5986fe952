-- Runs once, on an empty volume, after the image created user ficus
-- (MARIADB_USER) with all privileges on database shop. Capture also needs
-- to read the binlog (docs/capture-mysql.md, "Privileges").
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'ficus'@'%';
-- The shop (ficus demo-app shop) creates its own tables on first start.
