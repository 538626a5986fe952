-- Runs once, on an empty volume, after the image created user ficus
-- (MARIADB_USER) with all privileges on database shop. Capture also needs
-- to read the binlog (docs/capture-mysql.md, "Privileges").
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'ficus'@'%';

USE shop;
CREATE TABLE customers (
    id         int PRIMARY KEY AUTO_INCREMENT,
    name       varchar(100) NOT NULL,
    email      varchar(200) NOT NULL,
    created_at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
INSERT INTO customers (name, email) VALUES
    ('Ada', 'ada@example.com'),
    ('Grace', 'grace@example.com');
