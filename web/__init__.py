"""Web views: Leaflet pages and folium report maps, served offline by the API app."""
