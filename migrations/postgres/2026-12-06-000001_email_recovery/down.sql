DROP TABLE mail_outbox;
DROP TABLE email_links;
DROP TABLE user_emails;
