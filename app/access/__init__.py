"""Who may do what: roles, their permissions, the principal of a request and the one
dependency that authenticates and authorises every API call and console page."""
