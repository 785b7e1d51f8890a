// Run once by the mongo image, on the first start (an empty data volume), as the root user:
// notifyctl's own user, limited to its database. readWrite for the notifications and workers,
// dbAdmin for the indexes notifyctl creates and changes at start-up (createIndexes, collMod).
// docker-compose.scale.yml puts the password in NOTIFYCTL_MONGODB_PASSWORD and in MONGODB_URI.
db.getSiblingDB("admin").createUser({
  user: "notifyctl",
  pwd: process.env.NOTIFYCTL_MONGODB_PASSWORD,
  roles: [
    { role: "readWrite", db: "notifications" },
    { role: "dbAdmin", db: "notifications" },
  ],
});
