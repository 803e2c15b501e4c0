# Every route but / loads something the first request never needs.
require 'sinatra/base'

class Sample < Sinatra::Base
  set :bind, '0.0.0.0'
  set :port, 4567
  set :root, __dir__
  set :logging, true

  get('/') { 'Ruby sample' }

  get '/json' do
    require 'json'
    content_type :json
    { 'ok' => true, 'items' => [1, 2, 3] }.to_json
  end

  get '/csv' do
    require 'csv'
    content_type 'text/csv'
    CSV.generate { |csv| csv << %w[name count]; csv << ['apples', 3] }
  end

  get '/digest' do
    require 'digest'
    Digest::SHA256.hexdigest('slim')
  end

  get '/latin1' do
    "caf\u00e9 cr\u00e8me".encode('ISO-8859-1').bytes.join(',')
  end

  get '/page' do
    @title = 'Rendered by ERB'
    erb :page
  end

  not_found { 'Custom not found page' }

  run! if app_file == $PROGRAM_NAME
end
