DROP TABLE login_networks;
DROP TABLE guess_budgets;
