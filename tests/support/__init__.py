"""Helpers and factories the tests share: demo models and configs, servers, stand-ins."""
