package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/server/page"
)

// NewPublic returns the public API app (default listener :8080).
func NewPublic(d Deps) (*fiber.App, error) {
	if err := d.defaults(); err != nil {
		return nil, err
	}
	doc, err := openAPIJSON()
	if err != nil {
		return nil, err
	}
	app := fiber.New(fiberConfig(HardBodyLimit, publicErrors(d.Logger)))
	app.Use(requestID(), accessLog(d.Logger, d.Metrics), recoverPanic())

	const reset = "/api/v1/user/reset-password"
	app.Post(reset, withRoute(safereset.RouteRequest), limitIP(&d, safereset.RouteRequest), authenticate(&d), handleRequestToken(&d))
	app.Patch(reset, withRoute(safereset.RouteReset), limitIP(&d, safereset.RouteReset), authenticate(&d), handleResetPassword(&d))
	app.Post("/api/v1/password/check", withRoute(safereset.RouteCheck), limitIP(&d, safereset.RouteCheck), authenticate(&d), handlePasswordCheck(&d))
	app.Get("/api/v1/doc.json", withRoute(safereset.RouteDoc), handleDoc(doc))
	if d.ResetPage != nil {
		r, err := page.New()
		if err != nil {
			return nil, err
		}
		asset, err := handlePageAsset()
		if err != nil {
			return nil, err
		}
		app.Get("/reset", withRoute(safereset.RoutePage), pageErrors(&d, r), limitIP(&d, safereset.RouteReset), handlePage(&d, r))
		app.Post("/reset", withRoute(safereset.RoutePage), pageErrors(&d, r), limitIP(&d, safereset.RouteReset), handlePageSubmit(&d, r))
		app.Get("/reset/assets/:name", withRoute(safereset.RouteAsset), asset)
		app.Get(notMePath, withRoute(safereset.RouteNotMe), pageErrors(&d, r), limitIP(&d, safereset.RouteReset), handleNotMe(&d, r))
		app.Post(notMePath, withRoute(safereset.RouteNotMe), pageErrors(&d, r), limitIP(&d, safereset.RouteReset), handleNotMeSubmit(&d, r))
	}
	return app, nil
}

// NewOps returns the ops app (default listener 127.0.0.1:9090): health,
// readiness, metrics and the admin API behind the admin token.
func NewOps(d Deps, o Ops) (*fiber.App, error) {
	if err := d.defaults(); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	app := fiber.New(fiberConfig(AdminBodyLimit, adminErrors(d.Logger)))
	app.Use(requestID(), accessLog(d.Logger, nil), recoverPanic())

	app.Get("/healthz", withRoute(safereset.RouteHealthz), handleHealthz())
	app.Get("/readyz", withRoute(safereset.RouteReadyz), handleReadyz(o, d.Logger))
	app.Get("/metrics", withRoute(safereset.RouteMetrics), handleMetrics(o))

	admin := app.Group("/admin/v1", withRoute(safereset.RouteAdmin), adminAuth(&d, o.AdminTokens))
	admin.Post("/users", handleUserCreate(&d))
	admin.Post("/users/import", handleUserImport(&d))
	admin.Post("/users/verify", handleUserVerify(&d))
	admin.Post("/users/delete", handleUserDelete(&d))
	admin.Post("/users/unlock", handleUserUnlock(&d))
	admin.Post("/apikeys", handleAPIKeyCreate(&d))
	admin.Get("/apikeys", handleAPIKeyList(&d))
	admin.Delete("/apikeys/:id", handleAPIKeyRevoke(&d))
	admin.Post("/jwt", handleJWTIssue(&d, o))
	admin.Post("/breach/reload", handleBreachReload(&d, o))
	admin.Get("/backup", handleBackup(&d))
	admin.Get("/audit", handleAudit(&d))
	admin.Post("/admin-token/rotate", handleAdminTokenRotate(&d, o))
	return app, nil
}
